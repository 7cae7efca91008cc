const { chromium } = require('playwright-core');
const fs = require('fs');
(async () => {
  const port = fs.readFileSync('/tmp/nbproof/port', 'utf8').trim();
  const profile = fs.mkdtempSync('/tmp/nbproof/chromium-profile-');
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: { width: 1700, height: 1000 },
  });
  const browserPid = ctx.browser ? null : null;
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', e => console.log('pageerror', e.message));
  await page.goto(`http://127.0.0.1:${port}/lab/tree/notebooks/01_modalities.ipynb`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 60000 });
  await page.waitForSelector('#jp-main-statusbar >> text=Idle', { timeout: 60000 });
  console.log('notebook open, kernel idle');
  // Run > Run All Cells
  await page.click('.lm-MenuBar-itemLabel:text-is("Run")');
  await page.click('.lm-Menu-itemLabel:text-is("Run All Cells")');
  const t0 = Date.now();
  const slider = page.locator('.widget-hslider').first();
  await slider.waitFor({ timeout: 120000 });
  // wait until every code cell has an execution count (no "[*]" left)
  await page.waitForFunction(() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
    return prompts.length > 0 && prompts.every(p => /^\[\d+\]:$/.test(p));
  }, null, { timeout: 180000 });
  console.log('all cells ran in browser, s =', (Date.now() - t0) / 1000);
  const errors = await page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').allTextContents();
  console.log('stderr outputs:', errors.length, errors.map(e => e.slice(0, 200)));
  const readout = slider.locator('.widget-readout');
  console.log('slider before:', await readout.textContent());
  await slider.scrollIntoViewIfNeeded();
  const handle = slider.locator('.noUi-handle');
  await handle.click();
  for (let i = 0; i < 8; i++) { await page.keyboard.press('ArrowRight'); await page.waitForTimeout(150); }
  await page.waitForTimeout(2500);
  console.log('slider after:', await readout.textContent());
  // put the slider cell at the top of the viewport and shoot the slider + its figure
  const cell = page.locator('.jp-CodeCell', { has: page.locator('.widget-hslider') }).first();
  const out = cell.locator('.jp-Cell-outputWrapper');
  await out.evaluate(el => el.scrollIntoView({ block: 'start' }));
  await page.waitForTimeout(800);
  const title = await out.locator('img').count();
  console.log('images in slider output:', title);
  await out.screenshot({ path: '/tmp/nb01_slider.png' });
  await page.screenshot({ path: '/tmp/nbproof/page.png' });
  await ctx.close();
})().catch(e => { console.error(e); process.exit(1); });
