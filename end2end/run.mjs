// Browser tests: a real Chorus server and Chromium (see harness.mjs), driven
// through the app the way a person would.
//
//   CHORUS_BIN=... MOCK_BIN=... node end2end/run.mjs [name-filter]

import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  base, waitFor, newPage, hydrated, register, startChat, assistant, sendAndWatch, finish, startCluster, startChorus, work, totp, reloaded, DESKTOP, PHONE,
  freePort, start,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));

// --- the tests -------------------------------------------------------------

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('register, chat with streaming markdown, reload, error, logout, login', async () => {
  const { context, page } = await newPage(DESKTOP);
  const user = { name: 'Ada', email: 'ada@example.com', password: 'analytical engine' };
  await register(page, user);
  await assert.doesNotReject(page.getByTestId('user-name').filter({ hasText: 'Ada' }).waitFor());
  assert.equal(await page.locator('#endpoint option:checked').innerText(), 'Mock AI');
  assert.equal(await page.locator('#model').inputValue(), 'mock-small');

  const { answer, grew, samples } = await sendAndWatch(page, 'What is the capital of France?');
  assert.ok(grew, `the answer should grow while streaming (${samples} samples)`);
  await page.waitForURL(/\/c\/[0-9a-z]+$/);
  assert.equal(await answer.getAttribute('data-state'), 'complete');
  assert.equal(await answer.locator('strong').innerText(), 'What is the capital of France?');
  assert.equal((await answer.locator('pre code.language-python').innerText()).trimEnd(), 'print("hello from chorus")');
  assert.deepEqual(await answer.locator('li').allInnerTexts(), ['one', 'two']);

  // The model wrote the title; the sidebar and header show it.
  const title = 'Chat about What is the';
  await page.getByTestId('conversation-list').getByText(title).waitFor();
  await page.getByTestId('conversation-title').filter({ hasText: title }).waitFor();

  // Reload: the history is there.
  const url = page.url();
  await reloaded(page);
  const messages = page.getByTestId('message');
  assert.equal(await messages.count(), 2);
  assert.equal(await messages.first().innerText().then((t) => t.includes('What is the capital of France?')), true);
  assert.equal((await assistant(page).locator('pre code').innerText()).trimEnd(), 'print("hello from chorus")');

  // A provider error is shown in the chat and kept.
  await sendAndWatch(page, '[[status:429]] again please');
  const error = assistant(page).getByTestId('message-error');
  await error.waitFor();
  assert.match(await error.innerText(), /rate limiting requests \(HTTP 429\).*Wait a moment/);
  await reloaded(page);
  assert.match(await assistant(page).getByTestId('message-error').innerText(), /HTTP 429/);
  assert.equal(await assistant(page).getAttribute('data-state'), 'failed');

  // A second conversation goes to the top of the sidebar.
  await page.getByRole('link', { name: '+ New chat' }).click();
  await page.getByText('How can I help?').waitFor();
  await sendAndWatch(page, 'Tell me about Rust ownership');
  await page.getByTestId('conversation-list').getByText('Chat about Tell me about').waitFor();
  const titles = await page.getByTestId('conversation-list').locator('a').allInnerTexts();
  assert.deepEqual(titles, ['Chat about Tell me about', title]);

  // Log out, then in: wrong password first.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL('**/login');
  await page.goto(url);
  await page.waitForURL('**/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor();
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(base + '/');
  await page.getByTestId('conversation-list').getByText(title).click();
  await page.waitForURL(url);
  await waitFor(async () => (await page.getByTestId('message').count()) === 4, 'the 4 messages of the first conversation', 10000);

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'chorus_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, 'Lax');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the same flow on a phone-sized screen', async () => {
  const { context, page } = await newPage(PHONE);
  await register(page, { name: 'Grace', email: 'grace@example.com', password: 'compiler pioneer' });
  // The sidebar is a closed drawer: the conversation list is off screen.
  const drawerButton = page.getByRole('button', { name: 'Open conversations' });
  assert.ok(await drawerButton.isVisible());
  const { answer, grew } = await sendAndWatch(page, 'Hello from my phone');
  assert.ok(grew, 'the answer should stream');
  assert.equal(await answer.getAttribute('data-state'), 'complete');
  const box = await answer.boundingBox();
  assert.ok(box.width <= 390, `the answer fits the screen (${box.width}px)`);
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 390, `no horizontal scrolling (${scrollWidth}px)`);

  await reloaded(page);
  assert.equal(await page.getByTestId('message').count(), 2);
  await drawerButton.click();
  const link = page.getByTestId('conversation-list').getByText('Chat about Hello from my');
  await link.waitFor({ state: 'visible' });
  // Grace sees only her own conversation.
  assert.equal(await page.getByTestId('conversation-list').locator('a').count(), 1);
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL('**/login');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('reloading in the middle of an answer shows the text so far and continues', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Linus', email: 'linus@example.com', password: 'just for fun' });
  await startChat(page, '[[slow]] tell me a long story');
  await waitFor(async () => (await assistant(page).locator('.prose-chat').innerText()).length > 40, 'some text');
  await page.reload();
  // Right after the reload the text so far is there, and the answer continues.
  await waitFor(async () => (await assistant(page).locator('.prose-chat').innerText()).length > 40, 'the text so far after reload', 5000);
  assert.equal(await assistant(page).getAttribute('data-state'), 'streaming');
  await waitFor(async () => (await assistant(page).getAttribute('data-state')) === 'complete', 'the end of the answer');
  const text = await assistant(page).locator('.prose-chat').innerText();
  assert.ok(text.includes('tell me a long story'), text);
  assert.ok(text.includes('print("hello from chorus")'), text);
  assert.equal((text.match(/You said/g) || []).length, 1, 'no text repeated after the reload');
  await context.close();
});

test('closing the tab does not stop the answer', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Alan', email: 'alan@example.com', password: 'imitation game' });
  await startChat(page, '[[slow]] keep going without me');
  const url = page.url();
  await waitFor(async () => (await assistant(page).locator('.prose-chat').innerText()).length > 10, 'the answer to start');
  await page.close();
  await new Promise((r) => setTimeout(r, 6000)); // the whole answer takes about 4.5 s
  const later = await context.newPage();
  await later.goto(url);
  assert.equal(await assistant(later).getAttribute('data-state'), 'complete');
  const text = await assistant(later).locator('.prose-chat').innerText();
  assert.ok(text.includes('keep going without me') && text.includes('print("hello from chorus")'), text);
  await context.close();
});

test('stop keeps the partial answer, marked as stopped', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Barbara', email: 'barbara@example.com', password: 'liskov substitution' });
  await startChat(page, '[[slow]] a very long answer please');
  await waitFor(async () => (await assistant(page).locator('.prose-chat').innerText()).length > 30, 'some text');
  await page.getByRole('button', { name: 'Stop' }).click();
  await waitFor(async () => (await assistant(page).getAttribute('data-state')) === 'stopped', 'the answer to stop');
  const partial = await assistant(page).locator('.prose-chat').innerText();
  assert.ok(partial.length > 0 && !partial.includes('hello from chorus'), partial);
  await assistant(page).getByText('Stopped.').waitFor();
  await page.getByRole('button', { name: 'Send' }).waitFor();
  await reloaded(page);
  assert.equal(await assistant(page).getAttribute('data-state'), 'stopped');
  assert.equal(await assistant(page).locator('.prose-chat').innerText(), partial);

  // Continue: the same answer streams on from where it stopped.
  await assistant(page).getByRole('button', { name: 'Continue' }).click();
  await waitFor(async () => (await assistant(page).getAttribute('data-state')) === 'streaming', 'the answer to go on');
  assert.ok((await assistant(page).locator('.prose-chat').innerText()).startsWith(partial.trimEnd().slice(0, 20)));
  await waitFor(async () => (await assistant(page).getAttribute('data-state')) === 'complete', 'the continued answer to finish');
  assert.equal(await page.getByTestId('message').count(), 2, 'still one answer');
  const whole = await assistant(page).locator('.prose-chat').innerText();
  assert.ok(whole.length > partial.length && whole.includes('hello from chorus'), whole);
  assert.equal(await assistant(page).getByRole('button', { name: 'Continue' }).count(), 0);
  await reloaded(page);
  assert.equal(await assistant(page).locator('.prose-chat').innerText(), whole);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a reasoning model shows its thoughts apart from the answer, also after reload', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Kurt', email: 'kurt@example.com', password: 'incompleteness' });
  const { answer } = await sendAndWatch(page, '[[think]] why is the sky blue');
  assert.equal(await answer.getAttribute('data-state'), 'complete');
  const thoughts = answer.getByTestId('reasoning');
  assert.equal(await thoughts.locator('summary').innerText(), 'Thoughts');
  await thoughts.locator('summary').click();
  const expected = 'The user wrote "[[think]] why is the sky blue". I should answer with some markdown.';
  assert.equal((await thoughts.locator('div').innerText()).trim(), expected);
  // The thoughts are not part of the answer text.
  assert.ok(!(await answer.locator('.prose-chat').innerText()).includes('I should answer'));
  await reloaded(page);
  await assistant(page).getByTestId('reasoning').locator('summary').click();
  assert.equal((await assistant(page).getByTestId('reasoning').locator('div').innerText()).trim(), expected);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('dark theme is remembered; the app installs and works offline as a shell', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Tim', email: 'tim@example.com', password: 'world wide web' });
  await hydrated(page);
  const dark = () => page.evaluate(() => document.documentElement.classList.contains('dark'));
  const wasDark = await dark();
  await page.getByRole('button', { name: 'Switch light or dark theme' }).first().click();
  assert.equal(await dark(), !wasDark);
  await page.reload();
  assert.equal(await dark(), !wasDark, 'the choice survives a reload');

  const manifest = await (await fetch(`${base}/manifest.webmanifest`)).json();
  assert.equal(manifest.display, 'standalone');
  assert.ok(await page.locator('link[rel=manifest]').count());
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await page.reload(); // now controlled by the service worker
  await context.setOffline(true);
  await page.goto('/c/anything').catch(() => {});
  await page.getByRole('heading', { name: 'You are offline' }).waitFor();
  await context.setOffline(false);
  await context.close();
});

test('two tabs: an answer sent in one streams in the other; stop, rename and delete follow', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Margaret', email: 'margaret@example.com', password: 'apollo guidance' });
  await sendAndWatch(page, 'first question');
  await page.waitForURL(/\/c\/[0-9a-z]+$/);
  const url = page.url();
  const title = 'Chat about first question';
  await page.getByTestId('conversation-title').filter({ hasText: title }).waitFor();

  // A second tab of the same browser (same session) on the same conversation,
  // with something typed but not sent.
  const other = await context.newPage();
  await other.goto(url);
  await hydrated(other);
  assert.equal(await other.getByTestId('message').count(), 2);
  await other.getByLabel('Message').fill('my unsent draft');

  // Sent in the first tab, the answer appears and streams in the second.
  await page.getByLabel('Message').fill('[[slow]] second question');
  await page.getByLabel('Message').press('Enter');
  await waitFor(async () => (await other.getByTestId('message').count()) === 4, 'the new turn in the other tab', 10000);
  const lengths = [];
  while ((await assistant(other).getAttribute('data-state')) === 'streaming') {
    lengths.push((await assistant(other).locator('.prose-chat').innerText()).length);
    await other.waitForTimeout(60);
  }
  assert.ok(lengths.some((l, i) => i > 0 && l > lengths[i - 1] && lengths[0] < l), `it grew in the other tab (${lengths.length} samples)`);
  assert.equal(await assistant(other).getAttribute('data-state'), 'complete');
  await waitFor(async () => (await assistant(page).getAttribute('data-state')) === 'complete', 'the end in the first tab');
  assert.equal(await assistant(other).locator('.prose-chat').innerText(), await assistant(page).locator('.prose-chat').innerText());
  assert.equal(await other.getByLabel('Message').inputValue(), 'my unsent draft', 'the draft survives');

  // Stop in the second tab stops the answer the first tab sent.
  await page.getByLabel('Message').fill('[[slow]] third question');
  await page.getByLabel('Message').press('Enter');
  await waitFor(async () => (await other.getByTestId('message').count()) === 6, 'the third turn in the other tab', 10000);
  await waitFor(async () => (await assistant(other).locator('.prose-chat').innerText()).length > 20, 'some text in the other tab');
  await other.getByRole('button', { name: 'Stop' }).click();
  await waitFor(async () => (await assistant(page).getAttribute('data-state')) === 'stopped', 'the first tab to see it stopped');
  await assistant(page).getByText('Stopped.').waitFor();

  // A conversation started in the second tab appears in the first tab's sidebar.
  await other.getByRole('link', { name: '+ New chat' }).click();
  await other.getByText('How can I help?').waitFor();
  await sendAndWatch(other, 'started elsewhere');
  await page.getByTestId('conversation-list').getByText('Chat about started elsewhere').waitFor();

  // Renamed in the first tab: the second tab's sidebar follows.
  const item = page.getByTestId('conversation-item').filter({ hasText: title });
  await item.hover();
  await item.getByRole('button', { name: 'Conversation options' }).click();
  await page.getByRole('menuitem', { name: 'Rename' }).click();
  await page.getByLabel('New title').fill('  Moon   landing notes ');
  await page.getByLabel('New title').press('Enter');
  await page.getByTestId('conversation-title').filter({ hasText: 'Moon landing notes' }).waitFor();
  await other.getByTestId('conversation-list').getByText('Moon landing notes').waitFor();

  // The second tab opens it, the first deletes it: the second leaves it.
  await other.getByTestId('conversation-list').getByText('Moon landing notes').click();
  await other.waitForURL(url);
  await other.getByTestId('conversation-title').filter({ hasText: 'Moon landing notes' }).waitFor();
  const renamed = page.getByTestId('conversation-item').filter({ hasText: 'Moon landing notes' });
  await renamed.hover();
  await renamed.getByRole('button', { name: 'Conversation options' }).click();
  await page.getByRole('menuitem', { name: 'Delete' }).click();
  await page.getByRole('alertdialog').getByText('Delete “Moon landing notes” and all its messages?').waitFor();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL(base + '/');
  await other.waitForURL(base + '/');
  await waitFor(async () => (await other.getByTestId('conversation-list').locator('a').allInnerTexts()).join('|') === 'Chat about started elsewhere',
    'the second tab to list only the remaining conversation', 10000);
  await page.goto(url);
  await page.getByRole('alert').filter({ hasText: 'This conversation does not exist or is not yours.' }).waitFor();
  assert.deepEqual([...page.errors, ...other.errors], []);
  await context.close();
});

test('branches: edit and resubmit, switch versions, regenerate with another model, edit an answer, fork with each option, delete', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Edsger', email: 'edsger@example.com', password: 'shortest paths' });
  await sendAndWatch(page, 'first question');
  await page.waitForURL(/\/c\/[0-9a-z]+$/);
  const source = page.url();
  await sendAndWatch(page, 'second question');
  const messages = page.getByTestId('message');
  const question = (i) => page.locator('[data-testid=message][data-role=user]').nth(i);
  const answerText = () => assistant(page).locator('.prose-chat').innerText();
  const complete = async () => (await assistant(page).getAttribute('data-state')) === 'complete';

  // Edit the second question and submit it: a new branch with its own answer.
  await question(1).getByRole('button', { name: 'Edit' }).click();
  await question(1).getByLabel('Edit message').fill('second question, rephrased');
  await question(1).getByRole('button', { name: 'Save & submit' }).click();
  await waitFor(async () => (await answerText()).includes('second question, rephrased') && (await complete()), 'the answer to the edit');
  assert.equal(await messages.count(), 4);
  assert.equal(await question(1).getByTestId('sibling-position').innerText(), '2 / 2');

  // Back to the first version: its own answer comes with it, also after a reload.
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/conversation/thread') && r.ok());
  await question(1).getByRole('button', { name: 'Previous version' }).click();
  await question(1).getByTestId('sibling-position').filter({ hasText: '1 / 2' }).waitFor();
  assert.ok((await question(1).innerText()).startsWith('You\nsecond question\n'), await question(1).innerText());
  assert.ok((await answerText()).includes('You said: second question\n'), await answerText());
  await saved; // the switch is saved in the background
  await reloaded(page);
  await question(1).getByTestId('sibling-position').filter({ hasText: '1 / 2' }).waitFor();

  // Regenerate with another model: a second answer beside the first.
  await page.locator('#model').selectOption('mock-large');
  await assistant(page).getByRole('button', { name: 'Regenerate' }).click();
  await waitFor(async () => (await assistant(page).getByTestId('sibling-position').count()) === 1 && (await complete()), 'the regenerated answer');
  assert.equal(await assistant(page).getByTestId('sibling-position').innerText(), '2 / 2');
  assert.match(await assistant(page).innerText(), /^Assistant · mock-large/);
  await assistant(page).getByRole('button', { name: 'Previous version' }).click();
  await assistant(page).getByText('Assistant · mock-small').waitFor();

  // Edit an answer's text in place: no new message.
  await assistant(page).getByRole('button', { name: 'Edit' }).click();
  await assistant(page).getByLabel('Edit message').fill('A **hand-written** answer.');
  await assistant(page).getByRole('button', { name: 'Save', exact: true }).click();
  await assistant(page).locator('.prose-chat strong').filter({ hasText: 'hand-written' }).waitFor();
  assert.equal(await messages.count(), 4);
  assert.equal(await assistant(page).getByTestId('sibling-position').innerText(), '1 / 2');

  // Fork with each option, and open the fork.
  async function fork(message, option, startHere = false) {
    await message.getByRole('button', { name: 'Fork' }).click();
    const dialog = message.getByRole('group', { name: 'Fork conversation' });
    if (startHere) await dialog.getByLabel('Start fork here').check();
    else await dialog.getByLabel(option).check();
    await dialog.getByRole('button', { name: 'Fork' }).click();
    await page.waitForURL((u) => u.href !== source && /\/c\//.test(u.href));
    await hydrated(page);
    await page.getByTestId('forked-from').waitFor();
    const forked = page.url();
    await page.goto(source);
    await hydrated(page);
    return forked;
  }
  const visible = await fork(assistant(page), 'Visible messages only');
  const related = await fork(assistant(page), 'Include related branches');
  const level = await fork(question(1), 'Include all to/from here');
  const tail = await fork(question(1), null, true);

  const open = async (url) => {
    await page.goto(url);
    await hydrated(page);
    await waitFor(async () => (await messages.count()) > 0, 'the fork to show');
  };
  // Visible only: the thread as it was on screen, no other branches.
  await open(visible);
  assert.equal(await messages.count(), 4);
  assert.ok((await answerText()).includes('hand-written'));
  assert.equal(await page.getByTestId('sibling-switch').count(), 0);
  // Related branches: the same thread, with the edit and the other answer one switch away.
  await open(related);
  assert.equal(await messages.count(), 4);
  assert.equal(await question(1).getByTestId('sibling-position').innerText(), '1 / 2');
  assert.equal(await assistant(page).getByTestId('sibling-position').innerText(), '1 / 2');
  await question(1).getByRole('button', { name: 'Next version' }).click();
  await waitFor(async () => (await answerText()).includes('second question, rephrased'), 'the related branch with its answer');
  // All to/from here, at the second question: both versions of it, no answers below them.
  await open(level);
  assert.equal(await messages.count(), 3);
  assert.equal(await question(1).getByTestId('sibling-position').innerText(), '1 / 2');
  await question(1).getByRole('button', { name: 'Next version' }).click();
  await question(1).getByText('second question, rephrased').waitFor();
  assert.equal(await messages.count(), 3);
  // Start here: the fork begins at that question and takes what follows.
  await open(tail);
  assert.equal(await question(0).getByText('second question', { exact: true }).count(), 1);
  assert.equal(await messages.count(), 2);
  assert.equal(await assistant(page).getByTestId('sibling-position').innerText(), '1 / 2');

  // Changing a fork leaves the source alone; the fork links back to it.
  await assistant(page).getByRole('button', { name: 'Delete' }).click();
  await assistant(page).getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await waitFor(async () => (await assistant(page).getByTestId('sibling-switch').count()) === 0, 'one answer left in the fork');
  await page.getByTestId('forked-from').getByRole('link').click();
  await page.waitForURL(source);
  await hydrated(page);
  // The source loads after the URL changes: wait for its answer's switch.
  await assistant(page).getByTestId('sibling-position').filter({ hasText: /^1 \/ 2$/ }).waitFor();

  // Delete the edited branch in the source: the question has one version again.
  await question(1).getByRole('button', { name: 'Next version' }).click();
  await question(1).getByText('second question, rephrased').waitFor();
  await question(1).getByRole('button', { name: 'Delete' }).click();
  await question(1).getByText('Delete this message and every message that follows it?').waitFor();
  await question(1).getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await waitFor(async () => (await question(1).getByTestId('sibling-switch').count()) === 0, 'the branch to go');
  assert.ok((await question(1).innerText()).startsWith('You\nsecond question\n'));
  assert.equal(await messages.count(), 4);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('settings: my own provider key, and API keys for OpenAI clients', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Hedy', email: 'hedy@example.com', password: 'frequency hopping' });
  await hydrated(page);

  // An endpoint that runs on the user's own key says so, and sending is refused.
  await page.locator('#endpoint').selectOption('Own');
  const notice = page.getByTestId('needs-key');
  await notice.waitFor();
  await page.getByLabel('Message').fill('hello before my key');
  await page.getByLabel('Message').press('Enter');
  await page.getByRole('alert').filter({ hasText: 'runs on your own API key' }).waitFor();
  assert.equal(await page.getByTestId('message').count(), 0, 'nothing stored');

  await notice.getByRole('link', { name: 'Add it in Settings' }).click();
  await page.waitForURL('**/settings');
  await hydrated(page);
  const card = page.locator('[data-testid=provider-key][data-endpoint=Own]');
  assert.equal(await card.getByTestId('provider-key-status').innerText(), 'Not set');
  await card.getByLabel('API key').fill('sk-test');
  await card.getByRole('button', { name: 'Save' }).click();
  await card.getByTestId('provider-key-status').filter({ hasText: /^Saved \d{4}-\d{2}-\d{2}$/ }).waitFor();
  await reloaded(page);
  assert.ok(!(await page.content()).includes('sk-test'), 'the key is never sent back');
  assert.equal(await card.getByLabel('API key').inputValue(), '');

  // Now the endpoint answers with that key.
  await page.getByRole('link', { name: '+ New chat' }).click();
  await page.getByText('How can I help?').waitFor();
  await page.locator('#endpoint').selectOption('Own');
  assert.equal(await notice.count(), 0);
  const { answer } = await sendAndWatch(page, 'hello with my key');
  assert.equal(await answer.getAttribute('data-state'), 'complete');
  assert.equal(await answer.locator('strong').innerText(), 'hello with my key');

  // An API key: shown once, listed, usable by an OpenAI client, revocable.
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.waitForURL('**/settings');
  await hydrated(page);
  assert.equal(await page.getByTestId('api-base').innerText(), `${base}/v1`);
  await page.getByLabel('New key name').fill('my script');
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = (await page.getByTestId('new-api-key-secret').innerText()).trim();
  assert.match(secret, /^chorus-[0-9a-f]{64}$/);
  const row = page.getByTestId('api-key').filter({ hasText: 'my script' });
  await row.waitFor();
  assert.match(await row.innerText(), /never used/);
  const models = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(models.status, 200);
  const ids = (await models.json()).data.map((m) => m.id);
  // The local model is served through /v1 like any other endpoint.
  assert.deepEqual(ids, ['Mock/mock-small', 'Mock/mock-large', 'Own/mock-small', 'Local/SmolLM2-135M-Instruct']);
  await reloaded(page);
  assert.equal(await page.getByTestId('new-api-key-secret').count(), 0, 'the key is shown only once');
  assert.match(await row.innerText(), /last used \d{4}-/);
  page.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'Revoke' }).click();
  await page.getByText('You have no API keys.').waitFor();
  const revoked = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(revoked.status, 401);

  // Deleting the provider key brings the notice back.
  await card.getByRole('button', { name: 'Delete my key' }).click();
  await card.getByTestId('provider-key-status').filter({ hasText: 'Not set' }).waitFor();
  await page.getByRole('link', { name: '+ New chat' }).click();
  await page.locator('#endpoint').selectOption('Own');
  await notice.waitFor();
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('two-factor: set up with an authenticator, sign in with a code, then a backup code', async () => {
  const { context, page } = await newPage(DESKTOP);
  const user = { name: 'Radia', email: 'radia@example.com', password: 'spanning tree' };
  await register(page, user);
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.waitForURL('**/settings');
  await hydrated(page);
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  const secret = (await page.getByTestId('two-factor-secret').innerText()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.equal(await page.getByTestId('two-factor-setup').locator('svg').count(), 1, 'a QR code');
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.getByTestId('backup-codes').waitFor();
  const backup = await page.getByTestId('backup-code').allInnerTexts();
  assert.equal(backup.length, 10);
  await page.getByTestId('two-factor-state').filter({ hasText: 'On.' }).waitFor();

  // Signing in now asks for a code after the password.
  const signInWith = async (code) => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL('**/login');
    await hydrated(page);
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Authentication code').waitFor();
    await page.getByLabel('Authentication code').fill(code);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };
  // The code the app shows next (the current one already turned 2FA on).
  await signInWith(totp(secret, Date.now() / 1000 + 30));
  await page.waitForURL(base + '/');
  await signInWith(backup[0]);
  await page.waitForURL(base + '/');
  // A used backup code is refused.
  await signInWith(backup[0]);
  await page.getByRole('alert').filter({ hasText: 'already used' }).waitFor();
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('code: run a block from an answer, see a chart it drew, keep files in the conversation, upload a file for it', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Frances', email: 'frances@example.com', password: 'optimizing compilers' });
  await sendAndWatch(page, 'Show me some Python');
  const answer = assistant(page);
  await answer.getByTestId('run-code').click();
  const output = answer.getByTestId('code-output');
  await output.waitFor();
  assert.equal((await output.getByTestId('code-stdout').innerText()).trimEnd(), 'hello from chorus');
  assert.match(await output.getByTestId('code-status').innerText(), /^exit 0 · \d+ ms$/);

  // Turn the answer into a plotting script and run it: the chart shows inline.
  const runEdited = async (markdown) => {
    await answer.getByRole('button', { name: 'Edit' }).click();
    await answer.getByLabel('Edit message').fill(markdown);
    await answer.getByRole('button', { name: 'Save', exact: true }).click();
    await answer.getByTestId('code-block').filter({ hasText: markdown.split('\n')[1] }).waitFor();
    await answer.getByTestId('run-code').click();
    await answer.getByTestId('code-output').waitFor();
  };
  await runEdited('```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 4, 9]); plt.savefig("squares.png")\nopen("notes.txt", "w").write("kept")\nprint("drawn")\n```');
  assert.equal((await answer.getByTestId('code-stdout').innerText()).trimEnd(), 'drawn');
  const image = answer.getByTestId('code-file').locator('img[alt="squares.png"]');
  await image.waitFor();
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await image.elementHandle());
  const url = await answer.getByRole('link', { name: 'squares.png' }).getAttribute('href');
  const download = await page.request.get(base + url);
  assert.equal(download.status(), 200);
  assert.equal(download.headers()['content-type'], 'image/png');

  // The next run in this conversation sees the files; errors show as errors.
  await runEdited('```bash\ncat notes.txt; echo; ls missing-file\n```');
  assert.equal((await answer.getByTestId('code-stdout').innerText()).trimEnd(), 'kept');
  assert.match(await answer.getByTestId('code-stderr').innerText(), /'missing-file': No such file or directory/);
  assert.match(await answer.getByTestId('code-status').innerText(), /^exit 2 /);

  // Files for code: the panel lists what runs wrote; an upload lands in /mnt/data.
  await page.getByTestId('files-toggle').click();
  const panel = page.getByTestId('files-panel');
  await panel.getByRole('link', { name: 'squares.png' }).waitFor();
  await panel.getByLabel('Files to add').setInputFiles({ name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('x,y\n1,2\n3,4\n') });
  await panel.getByRole('button', { name: 'Upload' }).click();
  await page.waitForURL(/\?files=open$/);
  await hydrated(page);
  await page.getByTestId('files-panel').getByRole('link', { name: 'data.csv' }).waitFor();
  await runEdited('```python\nimport pandas as pd\nprint(pd.read_csv("data.csv")["y"].sum())\n```');
  assert.equal((await answer.getByTestId('code-stdout').innerText()).trimEnd(), '6');
  await page.getByTestId('files-panel').getByRole('button', { name: 'Delete data.csv' }).click();
  await page.getByTestId('files-panel').getByRole('link', { name: 'data.csv' }).waitFor({ state: 'detached' });

  // Another account cannot fetch the chart.
  const other = await newPage(DESKTOP);
  await register(other.page, { name: 'Eve', email: 'eve.code@example.com', password: 'not frances at all' });
  assert.equal((await other.page.request.get(base + url)).status(), 404);
  assert.deepEqual(page.errors, []);
  await other.context.close();
  await context.close();
});

test('code: with Code on, the model runs code; the run, its output and its chart show in the answer and after a reload', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Grace', email: 'grace.tool@example.com', password: 'compilers all the way' });
  await hydrated(page);
  const toggle = page.getByTestId('code-tool');
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  // The scripted model runs each code block of the message with execute_code.
  await startChat(page, 'Plot the squares and add them up.\n```py\nimport matplotlib.pyplot as plt\nplt.plot([1, 4, 9]); plt.savefig("/mnt/data/squares.png")\nprint(sum([1, 4, 9]))\n```');
  const answer = assistant(page);
  await waitFor(async () => (await answer.getAttribute('data-state')) === 'complete', 'the answer after the run', 30000);

  const check = async () => {
    const step = answer.getByTestId('tool-step');
    assert.equal(await step.count(), 1);
    assert.equal(await step.getAttribute('data-failed'), 'false');
    assert.equal(await step.locator('summary').innerText(), 'Ran py code');
    // The chart is shown under the step without opening it.
    const image = step.locator('img[alt="squares.png"]');
    await image.waitFor();
    await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await image.elementHandle());
    // Opened, it shows the code and what it printed.
    await step.locator('summary').click();
    assert.match(await step.getByTestId('tool-input').innerText(), /plt\.savefig\("\/mnt\/data\/squares\.png"\)/);
    assert.match(await step.getByTestId('tool-output').innerText(), /^stdout:\n14\nfiles written:\n- \/mnt\/data\/squares\.png \(\d+ bytes\)/);
    // The model answered from the output, below the step.
    assert.match(await answer.locator('.prose-chat').last().innerText(), /It returned:[\s\S]*stdout:\s+14\s+files written:/);
  };
  await check();
  // Stored: a reload shows the same, and the conversation keeps Code on.
  await reloaded(page);
  await check();
  assert.equal(await page.getByTestId('code-tool').getAttribute('aria-pressed'), 'true');
  // The chart is in the conversation's files too.
  await page.getByTestId('files-toggle').click();
  await page.getByTestId('files-panel').getByRole('link', { name: 'squares.png' }).waitFor();
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('code: files attached to a new message reach the model\'s code and show on the message', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Hedy', email: 'hedy.attach@example.com', password: 'frequency hopping' });
  await hydrated(page);
  const attach = page.getByLabel('Attach files');
  await attach.setInputFiles([
    { name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('x,y\n1,2\n3,4\n') },
    { name: 'oops.txt', mimeType: 'text/plain', buffer: Buffer.from('not this one') },
  ]);
  const chips = page.getByTestId('attachment');
  await waitFor(async () => (await chips.count()) === 2, 'both files attached');
  // Attaching is for code: Code turns on.
  assert.equal(await page.getByTestId('code-tool').getAttribute('aria-pressed'), 'true');
  await page.getByRole('button', { name: 'Remove oops.txt' }).click();
  await waitFor(async () => (await chips.count()) === 1, 'the removed file to go');
  assert.match(await chips.innerText(), /^data\.csv\s+12 B/);

  await startChat(page, 'Add up y.\n```py\nimport pandas as pd\nprint(pd.read_csv("/mnt/data/data.csv")["y"].sum())\n```');
  const answer = assistant(page);
  await waitFor(async () => (await answer.getAttribute('data-state')) === 'complete', 'the answer after the run', 30000);
  const step = answer.getByTestId('tool-step');
  await step.locator('summary').click();
  assert.match(await step.getByTestId('tool-output').innerText(), /^stdout:\n6\n/);
  // The question shows its file, downloadable; the composer is empty again.
  const question = page.locator('[data-testid=message][data-role=user]').last();
  const link = question.getByTestId('message-files').getByRole('link', { name: 'data.csv' });
  const download = await page.request.get(base + await link.getAttribute('href'));
  assert.equal(await download.text(), 'x,y\n1,2\n3,4\n');
  assert.equal(await chips.count(), 0);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('settings: sign out everywhere ends the sessions on every device', async () => {
  const user = { name: 'Mary', email: 'mary.sessions@example.com', password: 'lost my phone' };
  const laptop = await newPage(DESKTOP);
  await register(laptop.page, user);
  // The same account signed in on a phone.
  const phone = await newPage(PHONE);
  await phone.page.goto(base + '/login');
  await hydrated(phone.page);
  await phone.page.getByLabel('Email').fill(user.email);
  await phone.page.getByLabel('Password').fill(user.password);
  await phone.page.getByRole('button', { name: 'Sign in' }).click();
  await phone.page.waitForURL(base + '/');

  await laptop.page.goto(base + '/settings');
  await hydrated(laptop.page);
  await laptop.page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await laptop.page.waitForURL('**/login');
  await phone.page.goto(base + '/settings');
  await phone.page.waitForURL('**/login');
  assert.deepEqual(laptop.page.errors, []);
  assert.deepEqual(phone.page.errors, []);
  await laptop.context.close();
  await phone.context.close();
});

test('MCP: turn on an MCP server\'s tools, the model calls one, the call and its result show in the answer', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Margaret', email: 'margaret.mcp@example.com', password: 'apollo guidance' });
  await hydrated(page);
  const chip = page.getByTestId('tool-mcp:toolbox');
  assert.equal(await chip.innerText(), 'Toolbox');
  assert.equal(await chip.getAttribute('aria-pressed'), 'false');
  await chip.click();
  assert.equal(await chip.getAttribute('aria-pressed'), 'true');
  // The scripted model calls the tool the message names.
  await startChat(page, 'What is 19 + 23? [[call:add_mcp_toolbox {"a": 19, "b": 23}]]');
  const answer = assistant(page);
  await waitFor(async () => (await answer.getAttribute('data-state')) === 'complete', 'the answer after the call', 30000);
  const step = answer.getByTestId('tool-step');
  assert.equal(await step.locator('summary').innerText(), 'Used add (toolbox)');
  await step.locator('summary').click();
  assert.equal(await step.getByTestId('tool-input').innerText(), '{"a": 19, "b": 23}');
  assert.equal(await step.getByTestId('tool-output').innerText(), '19 + 23 = 42');
  assert.match(await answer.locator('.prose-chat').last().innerText(), /It returned:[\s\S]*19 \+ 23 = 42/);
  // The conversation keeps the server on.
  await reloaded(page);
  assert.equal(await page.getByTestId('tool-mcp:toolbox').getAttribute('aria-pressed'), 'true');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('MCP: a server that acts with my own token: enter it in Settings, then its tool runs with it', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Hedy', email: 'hedy.mcp@example.com', password: 'frequency hopping' });
  await hydrated(page);
  // Without the token the tool is unavailable, and the answer says where to enter it.
  await page.getByTestId('tool-mcp:personal').click();
  await startChat(page, '[[call:env_mcp_personal {"name": "TOKEN"}]]');
  const first = assistant(page);
  await waitFor(async () => (await first.getAttribute('data-state')) === 'complete', 'the answer without the tool');
  await first.getByText('needs your Personal token first: enter it in Settings → MCP servers.', { exact: false }).waitFor();

  await page.goto(base + '/settings');
  await hydrated(page);
  const form = page.getByTestId('mcp-vars-form').filter({ hasText: 'Personal' });
  assert.equal(await form.getByTestId('mcp-vars-state').innerText(), 'Needs your values');
  await form.getByLabel('Personal token').fill('tok-hedy-42');
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByTestId('mcp-vars-state').filter({ hasText: 'Ready' }).waitFor();
  // Never shown again: the field is empty and says it is entered.
  assert.equal(await form.getByLabel('Personal token').inputValue(), '');
  assert.equal(await form.getByLabel('Personal token').getAttribute('placeholder'), 'Entered (type to replace)');

  await page.goto(base + '/');
  await hydrated(page);
  await page.getByTestId('tool-mcp:personal').click();
  await startChat(page, '[[call:env_mcp_personal {"name": "TOKEN"}]]');
  const answer = assistant(page);
  await waitFor(async () => (await answer.getAttribute('data-state')) === 'complete', 'the answer after the call', 30000);
  const step = answer.getByTestId('tool-step');
  await step.locator('summary').click();
  assert.equal(await step.getByTestId('tool-output').innerText(), 'tok-hedy-42');

  // Cleared: unavailable again.
  await page.goto(base + '/settings');
  await hydrated(page);
  await form.getByRole('button', { name: 'Clear' }).click();
  await form.getByTestId('mcp-vars-state').filter({ hasText: 'Needs your values' }).waitFor();
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('MCP: add my own server in Settings; its chip appears for me and the model calls its tool', async () => {
  const port = await freePort();
  const toolbox = start(join(process.env.HOME, '.cache/chorus/pyenv/bin/python'), [join(here, '..', 'crates/tools/tests/servers/toolbox.py'), 'http', String(port)]);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'GET' }).catch(() => null)) !== null, 'the toolbox over HTTP');
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Grace', email: 'grace.own-mcp@example.com', password: 'compiler pioneer' });
  await page.goto(base + '/settings');
  await hydrated(page);
  const form = page.getByTestId('add-mcp-server');
  await form.getByLabel('Name (letters, digits, - and _)').fill('mine');
  await form.getByLabel('Title').fill('My toolbox');
  await form.getByLabel('URL').fill(`http://127.0.0.1:${port}/mcp`);
  await form.getByRole('button', { name: 'Add server' }).click();
  const listed = page.getByTestId('my-mcp-server').filter({ hasText: 'My toolbox' });
  await listed.waitFor();
  assert.match(await listed.innerText(), /127\.0\.0\.1:\d+\/mcp \(streamable-http\)/);
  // A bad name is refused with the reason.
  await form.getByLabel('Name (letters, digits, - and _)').fill('my server');
  await form.getByLabel('URL').fill('https://example.com/mcp');
  await form.getByRole('button', { name: 'Add server' }).click();
  await page.getByRole('alert').filter({ hasText: "letters, digits, '-' or '_'" }).waitFor();

  await page.goto(base + '/');
  await hydrated(page);
  const chip = page.getByTestId('tool-mcp:mine');
  assert.equal(await chip.innerText(), 'My toolbox');
  await chip.click();
  await startChat(page, '[[call:add_mcp_mine {"a": 5, "b": 6}]]');
  const answer = assistant(page);
  await waitFor(async () => (await answer.getAttribute('data-state')) === 'complete', 'the answer after the call', 30000);
  const step = answer.getByTestId('tool-step');
  await step.locator('summary').click();
  assert.equal(await step.getByTestId('tool-output').innerText(), '5 + 6 = 11');

  // Removed: its chip goes.
  await page.goto(base + '/settings');
  await hydrated(page);
  await page.getByRole('button', { name: 'Remove mine' }).click();
  await waitFor(async () => (await page.getByTestId('my-mcp-server').count()) === 0, 'the server removed');
  await page.goto(base + '/');
  await hydrated(page);
  assert.equal(await page.getByTestId('tool-mcp:mine').count(), 0);
  assert.deepEqual(page.errors, []);
  await context.close();
  toolbox.kill('SIGKILL');
});

test('agents: build one, save versions and restore, share it, and chat with it from the marketplace', async () => {
  const bob = await newPage(DESKTOP);
  await register(bob.page, { name: 'Bob', email: 'bob.agents@example.com', password: 'builder of things' });
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Ann', email: 'ann.agents@example.com', password: 'agent smith!' });
  await hydrated(page);
  await page.getByRole('link', { name: 'Agents' }).click();
  await page.getByRole('link', { name: 'Create agent' }).click();
  await page.waitForURL(/\/agents\/new$/);
  await hydrated(page);
  const form = page.getByTestId('agent-form');
  await form.getByLabel('Name').fill('Tutor');
  await form.getByLabel('Description').fill('Explains things patiently');
  await form.getByLabel('Category').fill('Education');
  await form.getByLabel('Instructions').fill('You are a patient tutor.');
  await form.getByLabel('Conversation starters (one per line)').fill('Teach me fractions\nQuiz me');
  await form.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/\/agents\/[a-z0-9]+$/);
  const heading = page.getByTestId('agent-heading');
  await heading.filter({ hasText: 'Tutor (version 1)' }).waitFor();

  // Every save is a version; an old one comes back as a new version.
  await hydrated(page);
  await page.getByTestId('agent-form').getByLabel('Name').fill('Math tutor');
  await page.getByTestId('agent-form').getByRole('button', { name: 'Save' }).click();
  await heading.filter({ hasText: 'Math tutor (version 2)' }).waitFor();
  await page.getByTestId('agent-version').filter({ hasText: 'Version 1' }).getByRole('button', { name: 'Restore' }).click();
  await heading.filter({ hasText: 'Tutor (version 3)' }).waitFor();
  // The list reloads after the restore.
  await waitFor(async () => (await page.getByTestId('agent-version').count()) === 3, 'three versions listed');

  // A test chat beside the form runs the saved version.
  await page.getByRole('button', { name: 'Test chat' }).click();
  const frame = page.frameLocator('iframe[title="Test chat"]');
  await frame.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  assert.equal(await frame.getByTestId('agent-badge').innerText(), 'Agent: Tutor');
  await frame.getByLabel('Message').fill('Hello from the builder');
  await frame.getByLabel('Message').press('Enter');
  const tested = frame.locator('[data-testid=message][data-role=assistant]').last();
  await waitFor(async () => (await tested.getAttribute('data-state')) === 'complete', 'the test chat\'s answer');
  assert.match(await tested.locator('.prose-chat').innerText(), /You said: Hello from the builder/);
  await page.getByRole('complementary', { name: 'Test chat' }).getByRole('button', { name: 'Close' }).click();
  assert.equal(await page.locator('iframe[title="Test chat"]').count(), 0);

  // Shared with Bob to chat with.
  await page.getByLabel('Share with (email or group name)').fill('bob.agents@example.com');
  await page.getByRole('button', { name: 'Share', exact: true }).click();
  await page.getByTestId('agent-grant').filter({ hasText: 'bob.agents@example.com' }).filter({ hasText: 'can chat' }).waitFor();

  // From the marketplace, a chat with it: its starters, its model.
  await page.getByRole('link', { name: 'Agents' }).click();
  await page.waitForURL(/\/agents$/);
  const card = page.getByTestId('agent-card').filter({ hasText: 'Tutor' });
  assert.match(await card.innerText(), /Explains things patiently[\s\S]*by Ann · education/);
  await card.getByRole('link', { name: 'Chat' }).click();
  await page.waitForURL(/\?agent=/);
  await hydrated(page);
  assert.equal(await page.getByTestId('agent-badge').innerText(), 'Agent: Tutor');
  await page.getByTestId('starter').filter({ hasText: 'Teach me fractions' }).click();
  assert.equal(await page.getByLabel('Message').inputValue(), 'Teach me fractions');
  await page.getByLabel('Message').press('Enter');
  await page.waitForURL(/\/c\//);
  await waitFor(async () => (await assistant(page).getAttribute('data-state')) === 'complete', 'the agent\'s answer');
  assert.match(await assistant(page).locator('.prose-chat').innerText(), /You said: Teach me fractions/);
  await reloaded(page);
  assert.equal(await page.getByTestId('agent-badge').innerText(), 'Agent: Tutor');

  // Bob sees it and may chat, not edit.
  await bob.page.goto(base + '/agents');
  const shared = bob.page.getByTestId('agent-card').filter({ hasText: 'Tutor' });
  await shared.waitFor();
  assert.equal(await shared.getByRole('link', { name: 'Edit' }).count(), 0);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(bob.page.errors, []);
  await bob.context.close();
  await context.close();
});

test('agents: files added in the builder are read by the agent\'s code in a chat', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Florence', email: 'florence.files@example.com', password: 'statistics rose' });
  await page.goto(base + '/agents/new');
  await hydrated(page);
  const form = page.getByTestId('agent-form');
  await form.getByLabel('Name').fill('Analyst');
  await form.getByLabel(/^Code/).check();
  await form.getByRole('button', { name: 'Create' }).click();
  await page.getByTestId('agent-heading').filter({ hasText: 'Analyst (version 1)' }).waitFor();
  await hydrated(page);
  await page.locator('input[type=file][name=agent-files]').setInputFiles({ name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('x,y\n1,2\n3,4\n') });
  await page.getByTestId('agent-file').filter({ hasText: 'data.csv' }).waitFor();

  const id = page.url().split('/').pop();
  await page.goto(base + '/?agent=' + id);
  await startChat(page, 'Add up y.\n```py\nimport pandas as pd\nprint(pd.read_csv("/mnt/data/data.csv")["y"].sum())\n```');
  const answer = assistant(page);
  await waitFor(async () => (await answer.getAttribute('data-state')) === 'complete', 'the answer after the run', 30000);
  const step = answer.getByTestId('tool-step');
  await step.locator('summary').click();
  assert.match(await step.getByTestId('tool-output').innerText(), /^stdout:\n6\n/);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('agents: an agent with an MCP tool shared with a group is used by a member; a non-member cannot see it', async () => {
  // A server of its own: its first account is the administrator who manages groups.
  const own = await startChorus(join(work, 'groups-data'), join(work, 'chorus.yaml'));
  const open = async (name, email) => {
    const p = await newPage({ ...DESKTOP, baseURL: own.base });
    await register(p.page, { name, email, password: 'a long password' }, own.base);
    return p;
  };
  const admin = await open('Admin', 'admin@groups.example');
  const member = await open('Member', 'member@groups.example');
  const outsider = await open('Outsider', 'outsider@groups.example');

  // Settings → Groups: a group with the member in it.
  const page = admin.page;
  await page.goto(own.base + '/settings');
  await hydrated(page);
  await page.getByLabel('New group name').fill('research');
  await page.getByRole('button', { name: 'Create group' }).click();
  const group = page.getByTestId('group').filter({ hasText: 'research' });
  await group.getByLabel('Add a member to research').fill('member@groups.example');
  await group.getByRole('button', { name: 'Add' }).click();
  await group.getByTestId('group-member').filter({ hasText: 'member@groups.example' }).waitFor();

  // An agent with the Toolbox MCP server's tools, shared with the group.
  await page.goto(own.base + '/agents/new');
  await hydrated(page);
  const form = page.getByTestId('agent-form');
  await form.getByLabel('Name').fill('Calculator');
  await form.getByLabel('Description').fill('Adds numbers with a tool');
  await form.getByLabel('Toolbox').check();
  await form.getByLabel('Temperature').fill('0.3');
  await form.getByLabel('Longest answer (tokens)').fill('500');
  // A picture: a 1x1 PNG.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  await form.locator('input[type=file][name=avatar]').setInputFiles({ name: 'calc.png', mimeType: 'image/png', buffer: png });
  await waitFor(async () => ((await form.getByTestId('agent-avatar').getAttribute('src')) || '').startsWith('data:image/png;base64,'), 'the picture preview');
  await form.getByRole('button', { name: 'Create' }).click();
  await page.getByTestId('agent-heading').filter({ hasText: 'Calculator (version 1)' }).waitFor();
  // Kept: the saved agent shows them again.
  await page.reload();
  await hydrated(page);
  // Opened directly (server-rendered, then hydrated), the form holds the saved values.
  assert.equal(await page.getByTestId('agent-form').getByLabel('Name').inputValue(), 'Calculator');
  assert.equal(await page.getByTestId('agent-form').getByLabel('Temperature').inputValue(), '0.3');
  assert.equal(await page.getByTestId('agent-form').getByLabel('Longest answer (tokens)').inputValue(), '500');
  assert.match(await page.getByTestId('agent-form').getByTestId('agent-avatar').getAttribute('src'), /^data:image\/png;base64,/);
  await hydrated(page);
  await page.getByLabel('Share with (email or group name)').fill('research');
  await page.getByRole('button', { name: 'Share', exact: true }).click();
  await page.getByTestId('agent-grant').filter({ hasText: 'research' }).filter({ hasText: 'group' }).waitFor();

  // The administrator promotes it: it is marked for everyone who sees it.
  await page.goto(own.base + '/agents');
  await hydrated(page);
  const adminCard = page.getByTestId('agent-card').filter({ hasText: 'Calculator' });
  await adminCard.getByRole('button', { name: 'Promote' }).click();
  await adminCard.getByText('Promoted', { exact: true }).waitFor();
  await adminCard.getByRole('button', { name: 'Unpromote' }).waitFor();

  // The member finds it in the marketplace (promoted, with its picture) and
  // chats; the model calls the tool.
  await member.page.goto(own.base + '/agents');
  const memberCard = member.page.getByTestId('agent-card').filter({ hasText: 'Calculator' });
  await memberCard.getByText('Promoted', { exact: true }).waitFor();
  assert.match(await memberCard.getByTestId('agent-avatar').getAttribute('src'), /^data:image\/png;base64,/);
  assert.equal(await memberCard.getByRole('button', { name: 'Promote' }).count(), 0);
  await member.page.getByTestId('agent-card').filter({ hasText: 'Calculator' }).getByRole('link', { name: 'Chat' }).click();
  await member.page.waitForURL(/\?agent=/);
  await hydrated(member.page);
  await member.page.getByLabel('Message').fill('[[call:add_mcp_toolbox {"a": 40, "b": 2}]]');
  await member.page.getByLabel('Message').press('Enter');
  await member.page.waitForURL(/\/c\//);
  const answer = assistant(member.page);
  await waitFor(async () => (await answer.getAttribute('data-state')) === 'complete', 'the agent\'s answer', 30000);
  const step = answer.getByTestId('tool-step');
  assert.equal(await step.locator('summary').innerText(), 'Used add (toolbox)');
  await step.locator('summary').click();
  assert.equal(await step.getByTestId('tool-output').innerText(), '40 + 2 = 42');

  // The outsider sees no agents, and the agent's link leads nowhere.
  await outsider.page.goto(own.base + '/agents');
  await outsider.page.getByText('No agents here yet.', { exact: false }).waitFor();
  const agentUrl = member.page.url();
  assert.match(agentUrl, /\/c\//);
  const id = await page.evaluate(() => location.pathname.split('/').pop());
  await outsider.page.goto(own.base + '/?agent=' + id);
  await outsider.page.getByRole('alert').filter({ hasText: 'This agent does not exist, or is not shared with you.' }).waitFor();
  for (const p of [admin, member, outsider]) {
    assert.deepEqual(p.page.errors, []);
    await p.context.close();
  }
  own.proc.kill('SIGKILL');
});

test('local model: a real model in the server answers a question', async () => {
  const { context, page } = await newPage(DESKTOP);
  await register(page, { name: 'Ada', email: 'ada-local@example.com', password: 'analytical engine' });
  await page.locator('#endpoint').selectOption('Local');
  await startChat(page, 'What is the capital of France?');
  await waitFor(async () => (await assistant(page).getAttribute('data-state')) === 'complete', 'the local answer', 60000);
  const text = await assistant(page).locator('.prose-chat').innerText();
  assert.match(text, /Paris/);
  // The answer is stored: a reload shows it again.
  await reloaded(page);
  assert.equal(await assistant(page).locator('.prose-chat').innerText(), text);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('local model: a fresh install offers the built-in model and says how to fetch its file', async () => {
  // No config file and an empty data directory: the built-in endpoint is listed,
  // marked unavailable, with the command that fetches the model.
  const fresh = await startChorus(join(work, 'fresh-data'), null);
  const { context, page } = await newPage({ ...DESKTOP, baseURL: fresh.base });
  await register(page, { name: 'Fresh', email: 'fresh@example.com', password: 'first of many' }, fresh.base);
  await hydrated(page);
  assert.match(await page.locator('#endpoint').innerText(), /SmolLM2 135M.*\(unavailable\)/);
  const notice = page.getByTestId('endpoint-unavailable');
  await notice.waitFor();
  assert.match(await notice.innerText(), /scripts\/fetch-model\.sh/);
  assert.deepEqual(page.errors, []);
  await context.close();
  fresh.proc.kill('SIGKILL');
});

test('scale-out: an answer streams in a tab on another instance and survives its own instance being killed', async () => {
  const [a, b] = await startCluster();
  const { context, page } = await newPage({ ...DESKTOP, baseURL: a.base });
  await register(page, { name: 'Grace', email: 'grace@example.com', password: 'compiler pioneer' }, a.base);

  // A second tab on the other instance (same browser, so the same session:
  // sessions live in the shared database).
  const other = await context.newPage();
  await other.goto(b.base + '/');
  await hydrated(other);
  await startChat(page, '[[slow]] tell me about COBOL');
  const path = new URL(page.url()).pathname;
  // The sidebar on B hears of the new conversation through Redis.
  await other.getByTestId('conversation-list').locator(`a[href="${path}"]`).waitFor();
  await other.goto(b.base + path);
  const prose = assistant(other).locator('.prose-chat');
  await waitFor(async () => (await prose.innerText()).length > 20, 'the answer streaming on B');
  assert.equal(await assistant(other).getAttribute('data-state'), 'streaming');

  // Instance A, which runs the answer, dies (SIGKILL). B adopts the job and the
  // tab on B keeps streaming the same answer to its end.
  await page.close();
  a.proc.kill('SIGKILL');
  await waitFor(async () => (await assistant(other).getAttribute('data-state')) === 'complete', 'the answer completing on B', 30000);
  const text = await prose.innerText();
  assert.ok(text.startsWith('You said'), text);
  assert.ok(text.includes('print("hello from chorus")'), text);
  // Reloading shows what was stored: the same text, complete.
  await reloaded(other);
  assert.equal(await assistant(other).getAttribute('data-state'), 'complete');
  assert.equal(await assistant(other).locator('.prose-chat').innerText(), text);
  assert.deepEqual(other.errors, []);
  await context.close();
  b.proc.kill('SIGKILL');
});

// --- run -------------------------------------------------------------------

const filter = process.argv[2];
let failed = 0;
for (const t of tests) {
  if (filter && !t.name.includes(filter)) continue;
  const t0 = Date.now();
  try {
    await t.fn();
    console.log(`ok   ${t.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}\n     ${e.stack || e}`);
  }
}
await finish(failed);
console.log(failed ? `${failed} browser test(s) failed` : 'all browser tests passed');
process.exit(failed ? 1 : 0);
