// Browser benchmark: a long conversation in Chromium. Seeds a conversation of
// TURNS question/answer pairs through the app's own API, then opens it
// (time to HTML, to the first message painted, to interactive) and scrolls it
// from top to bottom, recording the time between animation frames.
//
//   CHORUS_BIN=<release chorus> MOCK_BIN=... MOCK_DELAY_MS=0 node end2end/bench.mjs
//
// Prints figures; asserts nothing about time.

import {
  base, waitFor, newPage, hydrated, register, finish, DESKTOP,
} from './harness.mjs';

const TURNS = Number(process.env.TURNS || 1000);
let failed = 0;
try {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Bench', email: 'bench@example.com', password: 'long conversation' });
  const api = async (fn, form) => {
    const resp = await page.request.post(`${base}/api/${fn}`, { form });
    if (!resp.ok()) throw new Error(`${fn}: ${resp.status()} ${await resp.text()}`);
    return resp.json();
  };

  const t0 = Date.now();
  const first = await api('send', { endpoint: 'Mock', model: 'mock-small', text: 'message 0' });
  const conversation = first.conversation;
  for (let i = 1; i < TURNS; i++) {
    await api('send', { conversation, endpoint: 'Mock', model: 'mock-small', text: `message ${i}` });
  }
  await waitFor(async () => {
    const c = await api('conversation', { id: conversation });
    return c.messages.length === 2 * TURNS && c.messages.every((m) => m.state !== 'streaming');
  }, 'every answer to finish', 600000);
  console.log(`seeded ${2 * TURNS} messages in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const opens = [];
  for (let run = 0; run < 3; run++) {
    const start = Date.now();
    await page.goto(`/c/${conversation}`);
    await page.getByTestId('message').first().waitFor();
    const painted = Date.now() - start;
    await hydrated(page);
    const interactive = Date.now() - start;
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      return { html: n.responseEnd, bytes: n.transferSize, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd };
    });
    opens.push({ painted, interactive, ...nav });
  }
  for (const o of opens) {
    console.log(`open: HTML received ${o.html.toFixed(0)} ms (${(o.bytes / 1024).toFixed(0)} KiB), ` +
      `first message visible ${o.painted} ms, DOMContentLoaded ${o.dcl.toFixed(0)} ms, ` +
      `load ${o.load.toFixed(0)} ms, interactive (hydrated) ${o.interactive} ms`);
  }
  console.log(`messages in the DOM: ${await page.getByTestId('message').count()}`);

  // Scroll from the top to the bottom in 60 steps, one per frame.
  const frames = await page.evaluate(async () => {
    const box = document.querySelector('[data-testid=messages]');
    box.scrollTop = 0;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const gaps = [];
    let last = performance.now();
    const steps = 60;
    for (let i = 1; i <= steps; i++) {
      box.scrollTop = (box.scrollHeight - box.clientHeight) * (i / steps);
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }
    return gaps;
  });
  frames.sort((a, b) => a - b);
  const at = (q) => frames[Math.min(frames.length - 1, Math.round((frames.length - 1) * q))].toFixed(1);
  console.log(`scroll top to bottom, frame times: p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms, ` +
    `${frames.filter((f) => f > 50).length} of ${frames.length} frames over 50 ms`);
  await context.close();
} catch (e) {
  failed = 1;
  console.log(`FAIL ${e.stack || e}`);
}
await finish(failed);
process.exit(failed);
