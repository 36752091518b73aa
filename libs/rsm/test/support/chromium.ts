import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, installed by scripts/test-prerequisites.ts; playwright-core downloads no browser. */
const CHROMIUM = '/usr/bin/chromium';

/**
 * A headless Chromium for the console's browser tests. Without the background-networking flags it
 * tries to reach Google's hosts at every start, which this machine's closed network refuses.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
