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
  console.log(`messages rendered on open: ${await page.getByTestId('message').count()} of ${2 * TURNS}`);

  // Read upwards from the latest message to the first (earlier messages are
  // added as the top comes near), a screen per frame; then back down.
  const frames = await page.evaluate(async () => {
    const box = document.querySelector('[data-testid=messages]');
    const frame = () => new Promise((r) => requestAnimationFrame(r));
    await frame();
    const up = [];
    const down = [];
    let last = performance.now();
    const tick = async (into) => {
      await frame();
      const now = performance.now();
      into.push(now - last);
      last = now;
    };
    const more = () => document.querySelector('[data-testid=messages] button.btn-ghost');
    for (let i = 0; i < 5000 && (box.scrollTop > 0 || more()); i++) {
      if (box.scrollTop === 0) more().click(); // no scroll event when already at the top
      else box.scrollTop = Math.max(0, box.scrollTop - box.clientHeight * 0.8);
      await tick(up);
    }
    while (box.scrollTop + box.clientHeight < box.scrollHeight - 1) {
      box.scrollTop += box.clientHeight * 0.8;
      await tick(down);
    }
    return { up, down, rendered: document.querySelectorAll('[data-testid=message]').length };
  });
  const stats = (name, gaps) => {
    const sorted = [...gaps].sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * q))].toFixed(1);
    console.log(`${name}: ${sorted.length} frames, p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms, ` +
      `${sorted.filter((f) => f > 50).length} over 50 ms`);
  };
  stats('scrolling up to the first message', frames.up);
  stats('scrolling back down', frames.down);
  console.log(`messages rendered after reading it all: ${frames.rendered}`);
  await context.close();
} catch (e) {
  failed = 1;
  console.log(`FAIL ${e.stack || e}`);
}
await finish(failed);
process.exit(failed);
