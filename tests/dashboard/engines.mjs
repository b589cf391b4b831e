// One small page API over the browser engines the pages must work in, for engines.test.mjs:
// Firefox (firefox-esr) through puppeteer-core over WebDriver BiDi, and WebKit (WebKitGTK, Safari's
// engine) through WebKitWebDriver and selenium-webdriver (WebDriver classic). Each opener
// resolves to {name, version, open(url, size), close()} or throws why the engine cannot start.
// A page: waitFor(selector), eval(fn, ...args), click(selector), type(selector, text),
// setSize(width, height), errors(), close().
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { childPids } from './harness.mjs';

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

export async function firefox() {
  const bin = process.env.FIREFOX || ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => existsSync(p));
  if (!bin) throw new Error('no firefox binary (apt-get install firefox-esr, or set FIREFOX)');
  const puppeteer = (await import('puppeteer-core')).default;
  const browser = await puppeteer.launch({ browser: 'firefox', executablePath: bin, headless: true });
  return {
    name: 'firefox',
    version: await browser.version(),
    async open(url, { width, height }) {
      const page = await browser.newPage();
      const errors = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.setViewport({ width, height });
      await page.goto(url, { waitUntil: 'load' });
      return {
        waitFor: (sel, timeout = 15000) => page.waitForSelector(sel, { timeout }),
        eval: (fn, ...args) => page.evaluate(fn, ...args),
        click: (sel) => page.click(sel),
        type: (sel, text) => page.type(sel, text),
        setSize: (w, h) => page.setViewport({ width: w, height: h }),
        errors: async () => errors,
        close: () => page.close(),
      };
    },
    close: () => browser.close(),
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Errors a page reports after this runs (WebDriver classic has no console log for WebKit, and no
// way to run a script before the page's own): uncaught exceptions, unhandled rejections and
// console.error. An error while the page loads shows as the page never marking itself loaded.
const CATCH_ERRORS = `
  if (!window.__errors) {
    window.__errors = [];
    addEventListener('error', (e) => window.__errors.push(String(e.message || e)));
    addEventListener('unhandledrejection', (e) => window.__errors.push('unhandled rejection: ' + String(e.reason)));
    const ce = console.error.bind(console);
    console.error = (...a) => { window.__errors.push(a.map(String).join(' ')); ce(...a); };
  }`;

// WebKitWebDriver starts MiniBrowser (WebKitGTK), a GTK program that needs a display: both run
// under xvfb-run (a virtual X server), in a process group of their own that close() ends.
export async function webkit() {
  const driverBin = process.env.WEBKIT_WEBDRIVER || '/usr/bin/WebKitWebDriver';
  const mini = process.env.WEBKIT_MINIBROWSER ||
    ['/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser', '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser',
      '/usr/libexec/webkit2gtk-4.1/MiniBrowser'].find((p) => existsSync(p));
  if (!existsSync(driverBin) || !mini) throw new Error('no WebKitWebDriver or MiniBrowser (apt-get install webkit2gtk-driver)');
  if (!existsSync('/usr/bin/xvfb-run')) throw new Error('no xvfb-run (apt-get install xvfb): WebKitGTK needs a display');
  const { Builder, By, until } = await import('selenium-webdriver');
  const port = await freePort();
  const proc = spawn('xvfb-run', ['-a', '-s', '-screen 0 1400x1000x24', driverBin, `--port=${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  // The driver first (xvfb-run then ends its X server and exits), the whole group if need be.
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    for (const pid of childPids(proc.pid)) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    }
    await Promise.race([exited, pause(3000)]);
    try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  let driver;
  try {
    for (let i = 0; ; ++i) {  // until the driver answers
      try {
        driver = await new Builder().usingServer(`http://127.0.0.1:${port}`).withCapabilities({
          browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: mini, args: ['--automation'] },
        }).build();
        break;
      } catch (e) {
        if (i >= 50 || proc.exitCode !== null) throw new Error(`${e.message}\n${log}`);
        await pause(200);
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const version = await driver.executeScript('return navigator.userAgent');
  const run = (fn, args) => driver.executeScript(`return (${fn.toString()}).apply(null, arguments)`, ...args);
  return {
    name: 'webkit',
    version,
    async open(url, { width, height }) {
      await driver.manage().window().setRect({ x: 0, y: 0, width, height });
      await driver.get(url);
      await driver.executeScript(CATCH_ERRORS);
      return {
        waitFor: (sel, timeout = 15000) => driver.wait(until.elementLocated(By.css(sel)), timeout),
        eval: (fn, ...args) => run(fn, args),
        click: async (sel) => (await driver.findElement(By.css(sel))).click(),
        type: async (sel, text) => (await driver.findElement(By.css(sel))).sendKeys(text),
        setSize: (w, h) => driver.manage().window().setRect({ width: w, height: h }),
        errors: () => driver.executeScript('return window.__errors || []'),
        close: async () => { await driver.get('about:blank'); },
      };
    },
    async close() {
      try { await driver.quit(); } finally { await stop(); }
    },
  };
}
