'use strict';
// Drives the project's room page (assets/web) in a real browser, headless, with a fake camera
// and microphone, as a browser peer for roompeer's tests:
//   chromium: Debian's /usr/bin/chromium through playwright-core;
//   firefox:  Debian's /usr/bin/firefox-esr through puppeteer-core over WebDriver BiDi
//             (playwright-core can drive only Playwright's own patched Firefox builds).
// Usage: node browser-peer.js URL HOLD_SECONDS [chromium|firefox]
// Prints JSON lines on stdout: {"event":"joined"}, {"event":"remote_video"}, then
// {"event":"result", ...} with what the browser saw of the call (from getStats).
const path = require('path');
const modules = path.join(__dirname, '..', 'servers', 'node_modules');

const [url, holdArg, which = 'chromium'] = process.argv.slice(2);
const hold = Number(holdArg || 5) * 1000;
const say = (o) => console.log(JSON.stringify(o));

// One small interface over both drivers: open a page, evaluate, click, wait for a condition.
async function launch() {
  if (which === 'firefox') {
    const puppeteer = require(path.join(modules, 'puppeteer-core'));
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: '/usr/bin/firefox-esr',
      headless: true,
      extraPrefsFirefox: {
        // Fake camera and microphone, no permission prompt.
        'media.navigator.streams.fake': true,
        'media.navigator.permission.disabled': true,
        // In a namespace with only `lo`: gather loopback candidates, with real addresses.
        'media.peerconnection.ice.loopback': true,
        'media.peerconnection.ice.obfuscate_host_addresses': false,
      },
    });
    const page = await browser.newPage();
    return {
      page,
      close: () => browser.close(),
      waitFor: (fn, timeout) => page.waitForFunction(fn, { timeout, polling: 100 }),
    };
  }
  const { chromium } = require(path.join(modules, 'playwright-core'));
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      // The fake camera runs at 20 frames/s unless told (ROOMPEER_CHROMIUM_FPS=30 matches
      // roompeer's 30 and a webcam's): a sender waits for its next camera frame to start.
      process.env.ROOMPEER_CHROMIUM_FPS
        ? `--use-fake-device-for-media-stream=fps=${Number(process.env.ROOMPEER_CHROMIUM_FPS)}`
        : '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      // In a namespace with only `lo`, Chromium gathers no candidates without this.
      '--allow-loopback-in-peer-connection',
      '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // Extra flags for a run by hand (e.g. Chromium's own logs: --enable-logging --v=1).
      ...(process.env.ROOMPEER_CHROMIUM_ARGS || '').split(' ').filter(Boolean),
    ],
  });
  const page = await browser.newPage();
  return {
    page,
    close: () => browser.close(),
    waitFor: (fn, timeout) => page.waitForFunction(fn, null, { timeout }),
  };
}

async function stats(page) {
  return page.evaluate(async () => {
    const out = { video: {}, audio: {}, sent: {}, at: Date.now() };
    if (!window.pc) return out;
    const report = await window.pc.getStats();
    const codecs = {};
    const candidates = {};
    const relayProtocols = {};
    report.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
    report.forEach((s) => {
      if (s.type === 'local-candidate' || s.type === 'remote-candidate') candidates[s.id] = s.candidateType;
      if (s.type === 'local-candidate' && s.relayProtocol) relayProtocols[s.id] = s.relayProtocol;
    });
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        Object.assign(out.video, {
          framesDecoded: s.framesDecoded, frameWidth: s.frameWidth, frameHeight: s.frameHeight, codec: codecs[s.codecId], packetsLost: s.packetsLost,
          // The delay figures the benchmark compares roompeer's with.
          jitterBufferDelay: s.jitterBufferDelay, jitterBufferEmittedCount: s.jitterBufferEmittedCount,
          totalProcessingDelay: s.totalProcessingDelay, totalDecodeTime: s.totalDecodeTime,
        });
      }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        Object.assign(out.audio, {
          packetsReceived: s.packetsReceived, totalAudioEnergy: s.totalAudioEnergy, codec: codecs[s.codecId],
          // NetEQ's figures, compared with roompeer's audio jitter buffer.
          jitterBufferDelay: s.jitterBufferDelay, jitterBufferEmittedCount: s.jitterBufferEmittedCount,
          concealedSamples: s.concealedSamples, totalSamplesReceived: s.totalSamplesReceived,
        });
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        Object.assign(out.sent, { framesEncoded: s.framesEncoded, codec: codecs[s.codecId] });
      }
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && !out.pair) {
        out.pair = { local: candidates[s.localCandidateId], remote: candidates[s.remoteCandidateId] };
      }
    });
    // The pair the transport uses, where the browser says (a nominated pair can be between
    // consent checks at the moment of asking).
    report.forEach((s) => {
      const pair = s.type === 'transport' && s.selectedCandidatePairId && report.get(s.selectedCandidatePairId);
      if (pair) {
        out.pair = { local: candidates[pair.localCandidateId], remote: candidates[pair.remoteCandidateId] };
        // How the browser reaches its TURN server for a relayed local candidate (udp/tcp/tls).
        if (relayProtocols[pair.localCandidateId]) out.pair.relayProtocol = relayProtocols[pair.localCandidateId];
      }
    });
    return out;
  });
}

(async () => {
  const b = await launch();
  const { page } = b;
  const logs = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push('pageerror: ' + (e.message || e)));
  try {
    await page.goto(url);
    // When the first remote picture's size was known (the first frame decoded and handed to the
    // element), on the wall clock, from the event itself: polling for it came up to a display
    // frame (16 ms) and a round trip to the driver late.
    await page.evaluate(() => {
      document.querySelector('#remotevideo').addEventListener('loadedmetadata', (e) => {
        window.remoteVideoAt = performance.timeOrigin + e.timeStamp;
      }, { once: true });
    });
    await page.click('#connserver');
    await b.waitFor(() => window.state && window.state !== 'init', 20000);
    const joinedAt = Date.now();
    say({ event: 'joined', state: await page.evaluate(() => window.state), t: joinedAt });
    await b.waitFor(() => document.querySelector('#remotevideo').videoWidth > 0, 30000);
    const polledAt = Date.now();
    const eventAt = await page.evaluate(() => window.remoteVideoAt);
    const remoteVideoAt = eventAt ? Math.round(eventAt) : polledAt;
    say({ event: 'remote_video', t: remoteVideoAt });
    const first = await stats(page);
    // The longest time the picture stood still during the hold (sampled every 50 ms).
    let maxFreezeMs = 0;
    let lastFrames = -1;
    let lastChange = Date.now();
    // The last figures while the call ran (the peer may leave first, which ends them).
    let lastLive = null;
    const sampler = setInterval(async () => {
      const s = await stats(page);
      if (s.video.framesDecoded) lastLive = s;
      const frames = s.video.framesDecoded || 0;
      const now = Date.now();
      if (frames !== lastFrames) {
        if (lastFrames >= 0) maxFreezeMs = Math.max(maxFreezeMs, now - lastChange);
        lastFrames = frames;
        lastChange = now;
      }
    }, 50);
    // The call is held this long; the figures compare its start and end.
    await new Promise((r) => setTimeout(r, hold));
    clearInterval(sampler);
    const now = await stats(page);
    const last = now.video.framesDecoded || !lastLive ? now : lastLive;
    last.video.maxFreezeMs = maxFreezeMs;
    const panes = await page.evaluate(() => ({
      offer: document.querySelector('#offer').value,
      answer: document.querySelector('#answer').value,
    }));
    // The remote picture's colour at the centre of each quarter (top-left, top-right,
    // bottom-left, bottom-right), read back from the video element: what the user sees.
    const quarters = await page.evaluate(() => {
      const v = document.querySelector('#remotevideo');
      const c = document.createElement('canvas');
      [c.width, c.height] = [v.videoWidth, v.videoHeight];
      const g = c.getContext('2d');
      g.drawImage(v, 0, 0);
      const at = (x, y) => Array.from(g.getImageData(Math.floor(x), Math.floor(y), 1, 1).data.slice(0, 3));
      const [w, h] = [c.width, c.height];
      return [at(w / 4, h / 4), at(3 * w / 4, h / 4), at(w / 4, 3 * h / 4), at(3 * w / 4, 3 * h / 4)];
    });
    // Leave as a user would: the Leave button, then the server's `leaved`.
    await page.click('#leave');
    await b.waitFor(() => window.state === 'leaved', 10000);
    const seen = await page.evaluate(() => ({
      width: document.querySelector('#remotevideo').videoWidth,
      height: document.querySelector('#remotevideo').videoHeight,
      state: window.state,
      panesAfterLeave: document.querySelector('#offer').value + document.querySelector('#answer').value,
    }));
    say({ event: 'result', browser: which, joinedAt, remoteVideoAt, first, last, quarters, ...panes, ...seen, logs: logs.slice(-30) });
  } catch (e) {
    say({ event: 'error', message: String(e), logs: logs.slice(-50) });
    process.exitCode = 1;
  } finally {
    await b.close();
  }
})();
