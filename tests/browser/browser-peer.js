'use strict';
// Drives the project's room page (assets/web) in Debian's Chromium, headless, with a fake
// camera and microphone, as a browser peer for roompeer's tests.
// Usage: node browser-peer.js URL HOLD_SECONDS
// Prints JSON lines on stdout: {"event":"joined"}, {"event":"remote_video"}, then
// {"event":"result", ...} with what the browser saw of the call (from getStats).
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'servers', 'node_modules', 'playwright-core'));

const [url, holdArg] = process.argv.slice(2);
const hold = Number(holdArg || 5) * 1000;
const say = (o) => console.log(JSON.stringify(o));

async function stats(page) {
  return page.evaluate(async () => {
    const out = { video: {}, audio: {}, sent: {} };
    if (!window.pc) return out;
    const report = await window.pc.getStats();
    const codecs = {};
    report.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        Object.assign(out.video, { framesDecoded: s.framesDecoded, frameWidth: s.frameWidth, frameHeight: s.frameHeight, codec: codecs[s.codecId], packetsLost: s.packetsLost });
      }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        Object.assign(out.audio, { packetsReceived: s.packetsReceived, totalAudioEnergy: s.totalAudioEnergy, codec: codecs[s.codecId] });
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        Object.assign(out.sent, { framesEncoded: s.framesEncoded, codec: codecs[s.codecId] });
      }
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        out.pair = { local: s.localCandidateId, remote: s.remoteCandidateId };
      }
    });
    return out;
  });
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      // In a namespace with only `lo`, Chromium gathers no candidates without this.
      '--allow-loopback-in-peer-connection',
      '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push('pageerror: ' + e.message));
  try {
    await page.goto(url);
    await page.click('#connserver');
    await page.waitForFunction(() => window.state && window.state !== 'init', null, { timeout: 20000 });
    say({ event: 'joined', state: await page.evaluate(() => window.state) });
    await page.waitForFunction(() => document.querySelector('#remotevideo').videoWidth > 0, null, { timeout: 30000 });
    say({ event: 'remote_video' });
    const first = await stats(page);
    // The call is held this long; the figures compare its start and end.
    await page.waitForTimeout(hold);
    const last = await stats(page);
    const panes = await page.evaluate(() => ({
      offer: document.querySelector('#offer').value,
      answer: document.querySelector('#answer').value,
    }));
    // Leave as a user would: the Leave button, then the server's `leaved`.
    await page.click('#leave');
    await page.waitForFunction(() => window.state === 'leaved', null, { timeout: 10000 });
    const seen = await page.evaluate(() => ({
      width: document.querySelector('#remotevideo').videoWidth,
      height: document.querySelector('#remotevideo').videoHeight,
      state: window.state,
      panesAfterLeave: document.querySelector('#offer').value + document.querySelector('#answer').value,
    }));
    say({ event: 'result', first, last, ...panes, ...seen, logs: logs.slice(-30) });
  } catch (e) {
    say({ event: 'error', message: String(e), logs: logs.slice(-50) });
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
