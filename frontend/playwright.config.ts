import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "@playwright/test";

/**
 * Runs the specs against the real backend: `videofoundry up` (API + workers + this SPA, built by
 * `npm run build`) on a free port with a fresh data dir. Chromium is the system one
 * (/usr/bin/chromium, or PLAYWRIGHT_CHROMIUM); Playwright never downloads a browser here.
 */

function freePort(): number {
  // Synchronous, because the config must be a plain object: ask the OS for a free port.
  const out = execFileSync(
    process.execPath,
    [
      "-e",
      "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})",
    ],
    { encoding: "utf8" },
  );
  return Number(out.trim());
}

// The config is evaluated by the runner and again by each worker: compute once, share via env.
if (!process.env.VF_E2E_PORT) process.env.VF_E2E_PORT = String(freePort());
if (!process.env.VF_E2E_DATA_DIR) process.env.VF_E2E_DATA_DIR = mkdtempSync(join(tmpdir(), "vf-e2e-"));
const here = fileURLToPath(new URL(".", import.meta.url));
const port = Number(process.env.VF_E2E_PORT);
const dataDir = process.env.VF_E2E_DATA_DIR;
const baseURL = process.env.VF_E2E_BASE_URL ?? `http://127.0.0.1:${port}`;
const videofoundry = resolve(here, "../.venv/bin/videofoundry");
const chromium = process.env.PLAYWRIGHT_CHROMIUM ?? "/usr/bin/chromium";

if (!existsSync(resolve(here, "../src/videofoundry/web/index.html"))) {
  console.warn("The SPA is not built: run `npm run build` before `npm run e2e`.");
}

export default defineConfig({
  testDir: "./e2e",
  globalTeardown: "./e2e/teardown.ts",
  timeout: 120_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0, // a failure fails: a retry would hide a flaky spec instead of reporting it
  reporter: process.env.CI ? [["list"], ["html", { open: "never" }]] : "list",
  outputDir: "test-results",
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    viewport: { width: 1400, height: 900 },
    launchOptions: {
      executablePath: chromium,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [{ name: "chromium", use: { browserName: "chromium" } }],
  webServer: process.env.VF_E2E_BASE_URL
    ? undefined
    : {
        command: `"${videofoundry}" up --host 127.0.0.1 --port ${port} --data-dir "${dataDir}"`,
        url: `${baseURL}/healthz`,
        // `slow` (tests/support/slow.py): a model that takes seconds, to watch a render progress.
        env: {
          ENVIRONMENT: "development",
          EXTRA_ADAPTERS: "tests.support.slow:SlowProcedural",
          PYTHONPATH: resolve(here, ".."),
        },
        timeout: 120_000,
        reuseExistingServer: false,
        stdout: "pipe",
        stderr: "pipe",
      },
});
