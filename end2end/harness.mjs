// What the browser tests and the browser benchmark share: on import, a local
// OpenAI-protocol upstream and a real Chorus server (embedded SurrealDB in a
// temp dir) are started and Debian's Chromium is launched; helpers drive the
// app the way a person would.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { createHmac } from 'node:crypto';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const CHORUS_BIN = process.env.CHORUS_BIN;
const MOCK_BIN = process.env.MOCK_BIN;
assert.ok(CHORUS_BIN && MOCK_BIN, 'set CHORUS_BIN and MOCK_BIN');

const children = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.output = '';
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  return child;
}

/** Polls `check` until it returns something truthy; `what` (a string, or a
 * function giving one at the time of failure) names what was awaited. */
export async function waitFor(check, what, ms = 30000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch {}
    if (Date.now() > until) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// --- the peers -------------------------------------------------------------

export const work = mkdtempSync(join(tmpdir(), 'chorus-e2e-'));
const mock = start(MOCK_BIN, ['--addr', '127.0.0.1:0', '--token-delay-ms', process.env.MOCK_DELAY_MS || '40']);
const mockAddr = await waitFor(() => mock.output.match(/listening on (\S+)/)?.[1], 'the mock upstream');

const port = await freePort();
export const base = `http://127.0.0.1:${port}`;
// The real small model (scripts/test.sh fetches it), for the local endpoint.
const testModel = process.env.CHORUS_TEST_MODEL || join(process.env.HOME, '.cache/chorus/models/SmolLM2-135M-Instruct.Q4_1.gguf');
// The mock upstream as a custom endpoint, in every config the tests write.
const mockEndpoint = `    - name: "Mock"
      apiKey: "sk-test"
      baseURL: "http://${mockAddr}/v1"
      models:
        default: ["mock-small", "mock-large"]
      modelDisplayLabel: "Mock AI"
`;
writeFileSync(
  join(work, 'chorus.yaml'),
  `endpoints:
  custom:
${mockEndpoint}      titleConvo: true
      titleModel: "mock-small"
    - name: "Own"
      apiKey: "user_provided"
      baseURL: "http://${mockAddr}/v1"
      models:
        default: ["mock-small"]
      modelDisplayLabel: "Own key AI"
  local:
    - name: "Local"
      path: "${testModel}"
      models: {default: ["SmolLM2-135M-Instruct"]}
      modelDisplayLabel: "Local SmolLM2"
      addParams: {temperature: 0}
mcpServers:
  toolbox:
    title: "Toolbox"
    description: "Adds numbers (a small MCP server written with the Python SDK)"
    command: "${join(process.env.HOME, '.cache/chorus/pyenv/bin/python')}"
    args: ["${join(here, '..', 'crates/tools/tests/servers/toolbox.py')}"]
  personal:
    title: "Personal"
    description: "Acts with your own token"
    command: "${join(process.env.HOME, '.cache/chorus/pyenv/bin/python')}"
    args: ["${join(here, '..', 'crates/tools/tests/servers/toolbox.py')}"]
    env: {TOKEN: "{{TOKEN}}"}
    customUserVars:
      TOKEN: {title: "Personal token", description: "Made on your account page"}
mcpSettings:
  allowedDomains: ["127.0.0.1"]
`
);

/** Another Chorus server on a free port, with its own data directory and
 * config file (`null`: built-in defaults). Returns its base URL and process. */
export async function startChorus(dataDir, configFile, env = {}) {
  const p = await freePort();
  const args = ['serve', '--addr', `127.0.0.1:${p}`, '--data-dir', dataDir];
  if (configFile) args.push('--config', configFile);
  const proc = start(CHORUS_BIN, args, env);
  const url = `http://127.0.0.1:${p}`;
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, () => `a Chorus server on ${url} (${proc.output.slice(-500)})`);
  return { base: url, proc };
}

/** Two Chorus instances sharing a real redis-server and a real SurrealDB
 * server (`chorus-surreal`), each on its own port; the way a load balancer's
 * backends run. Returns their base URLs and processes. */
export async function startCluster() {
  const surrealBin = process.env.CHORUS_SURREAL_BIN || join(process.env.HOME, '.cache/chorus/target-surreal/release/chorus-surreal');
  const [redisPort, dbPort] = [await freePort(), await freePort()];
  start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work]);
  const db = start(surrealBin, ['start', '--bind', `127.0.0.1:${dbPort}`, '--user', 'root', '--pass', 'e2e-pass', '--log', 'warn', 'memory']);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${dbPort}/health`)).ok, () => `the SurrealDB server (${db.output.slice(-500)})`);
  const dir = join(work, `cluster-${redisPort}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'chorus.yaml'), `endpoints:
  custom:
${mockEndpoint}database:
  url: "ws://127.0.0.1:${dbPort}"
  user: root
  password: e2e-pass
streams:
  backend: redis
  redis:
    url: "redis://127.0.0.1:${redisPort}/0"
`);
  const instances = [];
  for (const n of [1, 2]) {
    instances.push(await startChorus(join(dir, `data${n}`), join(dir, 'chorus.yaml'), {
      CHORUS_SECRET_KEY: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    }));
  }
  return instances;
}

export const server = start(CHORUS_BIN, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', join(work, 'data'), '--config', join(work, 'chorus.yaml')]);
await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 'the Chorus server');

export const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

// --- helpers ---------------------------------------------------------------

export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

/** A page in a new browser context; every page of that context (tabs opened
 * later too) collects its uncaught errors and console errors in `errors`. */
export async function newPage(options) {
  const context = await browser.newContext({ baseURL: base, ...options });
  context.on('page', (page) => {
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && page.errors.push(m.text()));
  });
  const page = await context.newPage();
  return { context, page };
}

/** Waits until the wasm has hydrated the page (buttons work). */
export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated]', { state: 'attached', timeout: 30000 });
}

/** Reloads the page and waits until it is interactive again. */
export async function reloaded(page) {
  await page.reload();
  await hydrated(page);
}

/** Signs up a new account on `origin` (the shared server unless given) and
 * waits for the empty chat. */
export async function register(page, { name, email, password }, origin = base) {
  await page.goto(origin + '/');
  await page.waitForURL('**/login');
  await hydrated(page);
  await page.getByRole('link', { name: 'Create one' }).click();
  await page.waitForURL('**/register');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(origin + '/');
  await page.getByText('How can I help?').waitFor();
}

/** Starts a chat with `text` (without waiting for the answer) and waits for its URL. */
export async function startChat(page, text) {
  await hydrated(page);
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
  await page.waitForURL(/\/c\//);
}

export const assistant = (page) => page.locator('[data-testid=message][data-role=assistant]').last();

/** Sends `text` and checks that the answer arrives piece by piece. */
export async function sendAndWatch(page, text) {
  await hydrated(page);
  const before = await page.locator('[data-testid=message][data-role=assistant]').count();
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
  await waitFor(async () => (await page.locator('[data-testid=message][data-role=assistant]').count()) > before, 'the answer to appear');
  const answer = assistant(page);
  // Seen while streaming: some text, then more text, before it completes.
  const lengths = [];
  while ((await answer.getAttribute('data-state')) === 'streaming') {
    lengths.push((await answer.locator('.prose-chat').innerText()).length);
    await page.waitForTimeout(60);
  }
  const grew = lengths.some((l, i) => i > 0 && l > lengths[i - 1] && lengths[0] < l);
  return { answer, grew, samples: lengths.length };
}

/** Closes the browser and removes the temp dir; prints the server's log after a failure. */
export async function finish(failed) {
  await browser.close();
  if (failed) {
    console.log('\n--- chorus server output ---\n' + server.output.slice(-6000));
  }
  rmSync(work, { recursive: true, force: true });
}


/** The code an authenticator app shows for a base32 seed at `seconds` (RFC 6238:
 * HMAC-SHA1, 30-second steps, 6 digits), written here from the RFC so the
 * browser test does not trust the server's own implementation. */
export function totp(secretBase32, seconds = Date.now() / 1000) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secretBase32.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}
