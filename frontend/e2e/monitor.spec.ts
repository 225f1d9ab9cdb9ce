import { type APIRequestContext, expect, type Page, type TestInfo, test } from "@playwright/test";

/**
 * The editor's monitor, ruler, trims, takes and shortcuts against the real backend (issue 12).
 * Timelines are set up through the API with the UI's own token; what is tested is done in the UI.
 */

interface Ctx {
  token: string;
  request: APIRequestContext;
}

async function signUp(page: Page): Promise<Ctx> {
  await page.goto("/");
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("Email").fill(`monitor-${Date.now()}-${Math.random().toString(36).slice(2, 7)}@example.com`);
  await page.getByLabel("Password").fill("correct-horse-battery-42");
  await page.getByRole("button", { name: "Create account", exact: true }).last().click();
  await expect(page.getByTestId("user-email")).toBeVisible();
  const token = await page.evaluate(() => window.localStorage.getItem("videofoundry.token"));
  if (!token) throw new Error("no token after sign-up");
  return { token, request: page.request };
}

async function call<T>(ctx: Ctx, method: "get" | "post" | "put", path: string, data?: unknown): Promise<T> {
  const res = await ctx.request[method](path, { headers: { Authorization: `Bearer ${ctx.token}` }, data });
  expect(res.ok(), `${method} ${path}: ${res.status()} ${await res.text()}`).toBeTruthy();
  return (await res.json()) as T;
}

interface Seg {
  id: string;
}
interface Job {
  id: string;
  status: string;
  segments: { segment_id: string; reused: boolean; status: string }[];
}

async function project(ctx: Ctx, shots: { prompt: string; duration: number; model?: string }[]) {
  const p = await call<{ id: string }>(ctx, "post", "/api/projects", {
    name: "Monitor project",
    width: 320,
    height: 180,
    fps: 24,
  });
  const segments: Seg[] = [];
  for (const shot of shots) {
    segments.push(
      await call<Seg>(ctx, "post", `/api/projects/${p.id}/segments`, {
        prompt: shot.prompt,
        duration: shot.duration,
        model: shot.model ?? "procedural",
      }),
    );
  }
  return { id: p.id, segments };
}

async function renderAndWait(ctx: Ctx, projectId: string): Promise<Job> {
  const job = await call<Job>(ctx, "post", `/api/projects/${projectId}/render`);
  await expect
    .poll(async () => (await call<Job>(ctx, "get", `/api/render-jobs/${job.id}`)).status, { timeout: 90_000 })
    .toBe("completed");
  return call<Job>(ctx, "get", `/api/render-jobs/${job.id}`);
}

async function shot(page: Page, testInfo: TestInfo, name: string) {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: "image/png" });
}

const monitorTime = async (page: Page) => Number(await page.getByTestId("monitor").getAttribute("data-time"));

/** Click the ruler at a timeline time. */
async function clickRulerAt(page: Page, seconds: number) {
  const ruler = page.getByTestId("time-ruler");
  await ruler.scrollIntoViewIfNeeded();
  const box = await ruler.boundingBox();
  const duration = Number(await ruler.getAttribute("data-duration"));
  if (!box) throw new Error("no ruler");
  await page.mouse.click(box.x + (seconds / duration) * box.width, box.y + 8);
}

test("plays across a boundary, scrubs to the right segment, shortcuts, trims by dragging and renders nothing", async ({
  page,
}, testInfo) => {
  const ctx = await signUp(page);
  const p = await project(ctx, [
    { prompt: "red sunrise over hills", duration: 1 },
    { prompt: "blue city at night, neon", duration: 1 },
  ]);
  await renderAndWait(ctx, p.id);
  await page.goto(`/projects/${p.id}`);
  const monitor = page.getByTestId("monitor");
  await expect(monitor).toHaveAttribute("data-has-clip", "true");
  await expect(page.getByTestId("time-ruler")).toHaveAttribute("data-duration", "2.000");

  // Scrub: a click at 1.5 s lands in segment 2 and selects it.
  await clickRulerAt(page, 1.5);
  await expect(monitor).toHaveAttribute("data-segment-index", "1");
  expect(Math.abs((await monitorTime(page)) - 1.5)).toBeLessThan(0.05);
  await expect(page.getByTestId("segment-block").nth(1)).toHaveAttribute("aria-current", "true");
  await expect(page.getByTestId("lane-block").nth(1)).toHaveClass(/under-playhead/);
  const screen = monitor.locator(".monitor-screen");
  await expect(page.getByTestId("monitor-video")).toHaveJSProperty("readyState", 4, { timeout: 10_000 });
  const second = await screen.screenshot();

  // Play from 0.5 s across the boundary at 1 s: the time passes it and the picture changes.
  await clickRulerAt(page, 0.5);
  await expect(monitor).toHaveAttribute("data-segment-index", "0");
  await expect(page.getByTestId("monitor-video")).toHaveJSProperty("readyState", 4, { timeout: 10_000 });
  const first = await screen.screenshot();
  expect(first.equals(second)).toBe(false);
  await shot(page, testInfo, "monitor-paused-segment-1");
  await page.getByTestId("monitor-play").click();
  await expect(monitor).toHaveAttribute("data-playing", "true");
  await expect.poll(() => monitorTime(page), { timeout: 10_000 }).toBeGreaterThan(1.2);
  await expect(monitor).toHaveAttribute("data-segment-index", "1");
  const crossed = await page
    .getByTestId("monitor-video")
    .evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, id: v.dataset.segmentId }));
  expect(crossed.id).toBe(p.segments[1]?.id);
  expect(crossed.t).toBeGreaterThan(0);
  await shot(page, testInfo, "monitor-playing-segment-2");
  await expect(monitor).toHaveAttribute("data-playing", "false", { timeout: 10_000 }); // stops at the end

  // Keyboard: Home, End, frame steps, Space, Delete (undoable), Ctrl+Z / Ctrl+Shift+Z.
  await page.locator("body").click({ position: { x: 2, y: 2 } });
  await page.keyboard.press("Home");
  expect(await monitorTime(page)).toBe(0);
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  expect(await monitorTime(page)).toBeCloseTo(2 / 24, 3);
  await page.keyboard.press("ArrowLeft");
  expect(await monitorTime(page)).toBeCloseTo(1 / 24, 3);
  await page.keyboard.press("End");
  expect(await monitorTime(page)).toBe(2);
  await page.keyboard.press("Home");
  await page.keyboard.press("Space");
  await expect(monitor).toHaveAttribute("data-playing", "true");
  await expect.poll(() => monitorTime(page), { timeout: 10_000 }).toBeGreaterThan(0.1);
  await page.keyboard.press("Space");
  await expect(monitor).toHaveAttribute("data-playing", "false");
  const paused = await monitorTime(page);
  await page.waitForTimeout(300); // nothing to await: checking that time stands still while paused
  expect(await monitorTime(page)).toBe(paused);

  const blocks = page.getByTestId("segment-block");
  const undo = page.getByRole("button", { name: "Undo", exact: true });
  const redo = page.getByRole("button", { name: "Redo", exact: true });
  await blocks.nth(1).click();
  await page.keyboard.press("Delete");
  await expect(blocks).toHaveCount(1);
  await expect(undo).toBeEnabled(); // the delete is done and recorded
  await page.keyboard.press("Control+z");
  await expect(blocks).toHaveCount(2);
  await expect(redo).toBeEnabled();
  await page.keyboard.press("Control+Shift+z");
  await expect(blocks).toHaveCount(1);
  await expect(undo).toBeEnabled();
  await page.keyboard.press("Control+z");
  await expect(blocks).toHaveCount(2);
  await expect(blocks.nth(1)).toContainText("blue city");

  // Trim: drag segment 1's end edge 0.5 s to the left; the PUT carries a frame-snapped out point.
  const lane = page.getByTestId("lane-block").first();
  await lane.hover();
  const handle = lane.getByTestId("trim-end");
  const box = await handle.boundingBox();
  const rulerBox = await page.getByTestId("time-ruler").boundingBox();
  if (!box || !rulerBox) throw new Error("no trim handle");
  const pxPerSecond = rulerBox.width / 2;
  const saved = page.waitForResponse((r) => r.url().includes(`/api/segments/`) && r.request().method() === "PUT");
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - pxPerSecond * 0.5, box.y + box.height / 2, { steps: 8 });
  await page.mouse.up();
  const put = await saved;
  expect(put.status()).toBe(200);
  const trimEnd = JSON.parse(put.request().postData() ?? "{}").trim_end as number;
  expect(Math.abs(trimEnd - 0.5)).toBeLessThan(0.05);
  expect(Math.abs(trimEnd * 24 - Math.round(trimEnd * 24))).toBeLessThan(1e-6);
  await expect(page.getByTestId("time-ruler")).toHaveAttribute("data-duration", (1 + trimEnd).toFixed(3));
  await expect(page.getByTestId("trimmed-length")).toContainText(`${Number(trimEnd.toFixed(2))} s of 1 s`);
  await shot(page, testInfo, "trimmed");

  // The same on a timeline block: drag segment 2's start edge 0.25 s (96 px a second) to the right.
  const block = page.getByTestId("segment-block").nth(1);
  await block.click();
  const startHandle = block.getByTestId("block-trim-start");
  const hb = await startHandle.boundingBox();
  if (!hb) throw new Error("no block trim handle");
  const savedStart = page.waitForResponse((r) => r.url().includes("/api/segments/") && r.request().method() === "PUT");
  await page.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
  await page.mouse.down();
  await page.mouse.move(hb.x + hb.width / 2 + 24, hb.y + hb.height / 2, { steps: 6 });
  await page.mouse.up();
  const putStart = await savedStart;
  expect(putStart.status()).toBe(200);
  expect(JSON.parse(putStart.request().postData() ?? "{}").trim_start).toBe(0.25);
  await expect(page.getByTestId("time-ruler")).toHaveAttribute("data-duration", (1 + trimEnd - 0.25).toFixed(3));
  await expect(page.getByTestId("segment-block")).toHaveCount(2); // a trim, not a reorder
  await expect(page.getByTestId("segment-block").nth(1)).toContainText("blue city");

  // Render: nothing is generated, the video lasts the trimmed length.
  const job = await renderAndWait(ctx, p.id);
  expect(job.segments.every((s) => s.reused)).toBe(true);
});

test("the first segment plays while a later one is still generating", async ({ page }, testInfo) => {
  const ctx = await signUp(page);
  const p = await project(ctx, [
    { prompt: "quick first shot", duration: 1 },
    { prompt: "slow second shot", duration: 1, model: "slow" },
  ]);
  await page.goto(`/projects/${p.id}`);
  const monitor = page.getByTestId("monitor");
  await expect(page.getByTestId("monitor-slate")).toBeVisible();
  await shot(page, testInfo, "monitor-before-render");

  await page.getByRole("button", { name: "Render", exact: true }).click();
  await page.getByRole("button", { name: "Start render" }).click();
  // The first clip shows while the second still generates (slow: about four seconds).
  await expect(monitor).toHaveAttribute("data-has-clip", "true", { timeout: 15_000 });
  const rows = page.getByRole("region", { name: "Render progress" }).locator(".job-segment");
  expect(await rows.nth(1).getAttribute("data-status")).not.toBe("completed");
  await page.getByTestId("monitor-play").click();
  const firstVideo = page.locator(`video[data-segment-id="${p.segments[0]?.id}"]`);
  await expect
    .poll(() => firstVideo.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 10_000 })
    .toBeGreaterThan(0.2);
  await shot(page, testInfo, "monitor-progressive");
  // Past the boundary: the slate of the shot still generating.
  await expect(monitor).toHaveAttribute("data-segment-index", "1", { timeout: 10_000 });
  if ((await rows.nth(1).getAttribute("data-status")) !== "completed") {
    await expect(page.getByTestId("monitor-slate")).toContainText(/Generating/);
  }
  await shot(page, testInfo, "monitor-slate-generating");
});

test("generate two variations and use one", async ({ page }, testInfo) => {
  const ctx = await signUp(page);
  const p = await project(ctx, [{ prompt: "a lighthouse in fog", duration: 1 }]);
  await renderAndWait(ctx, p.id);
  await page.goto(`/projects/${p.id}`);
  const takes = page.getByTestId("take");
  await expect(takes).toHaveCount(1);
  await page.getByTestId("variations-count").selectOption("2");
  await page.getByTestId("generate-variations").click();
  // The job on show is new takes of the segment, a row per seed, not a render listing it twice.
  const job = page.getByRole("region", { name: "Render progress" });
  await expect(job.getByTestId("job-variations-of")).toHaveText("2 new takes of 1. a lighthouse in fog");
  await expect(job.getByTestId("job-segment-prompt")).toHaveText([/^Take 1 · seed \d+$/, /^Take 2 · seed \d+$/]);
  await expect(takes).toHaveCount(3, { timeout: 60_000 });
  await shot(page, testInfo, "takes");

  const other = takes.filter({ has: page.getByTestId("use-take") }).first();
  const takeId = await other.getAttribute("data-take-id");
  // A take plays in place.
  await other.getByRole("button", { name: /Play take/ }).click();
  await expect(other.getByTestId("take-video")).toBeVisible();
  await other.getByTestId("use-take").click();
  await expect(page.locator(`[data-take-id="${takeId}"]`)).toContainText("In use");
  // Reused at no cost: the segment is ready again, nothing to generate.
  await expect(page.getByTestId("segment-block").first()).toHaveAttribute("data-state", "ready");
  const plan = await call<{ segments: { action: string }[] }>(ctx, "post", `/api/projects/${p.id}/render?dry_run=true`);
  expect(plan.segments.map((s) => s.action)).toEqual(["reuse"]);
});

test("a 390 px wide screen stacks the editor without sideways scroll", async ({ page }, testInfo) => {
  const ctx = await signUp(page);
  const p = await project(ctx, [
    { prompt: "narrow screen one", duration: 1 },
    { prompt: "narrow screen two", duration: 2 },
    { prompt: "narrow screen three", duration: 1 },
  ]);
  // Collapsed on a wide screen, the inspector opens again when the editor stacks, with no
  // sideways collapse button there (it would only hide the inspector).
  await page.goto(`/projects/${p.id}`);
  const clipPanel = page.getByRole("complementary", { name: "Inspector" }).getByRole("region", { name: "Clip" });
  await expect(clipPanel).toBeVisible();
  await page.getByTestId("toggle-inspector").click();
  await expect(clipPanel).toHaveCount(0);
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.getByTestId("monitor")).toBeVisible();
  await expect(page.getByTestId("time-ruler")).toBeVisible();
  await expect(clipPanel).toBeVisible();
  await expect(page.getByTestId("toggle-inspector")).toHaveCount(0);
  const widths = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  expect(widths.scroll).toBeLessThanOrEqual(widths.client);
  await shot(page, testInfo, "editor-390px");
  // Rendered, the project's card shows its first shot's poster (decoded, not a broken image).
  await renderAndWait(ctx, p.id);
  await page.goto("/");
  await expect(page.locator(".project-item").first()).toBeVisible();
  const poster = page.getByTestId("project-poster").first().locator("img");
  await expect(poster).toBeVisible();
  await expect.poll(() => poster.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  const listWidths = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(listWidths).toBeLessThanOrEqual(390);
  await shot(page, testInfo, "projects-390px");
});

test("at 390 px, with a segment selected, Render and its progress come before the inspector and work", async ({
  page,
}, testInfo) => {
  const ctx = await signUp(page);
  const p = await project(ctx, [
    { prompt: "phone render one", duration: 1 },
    { prompt: "phone render two", duration: 1 },
  ]);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`/projects/${p.id}`);
  await page.getByTestId("segment-block").nth(1).click();
  const inspector = page.getByRole("complementary", { name: "Inspector" });
  await expect(inspector.getByLabel("Prompt", { exact: true })).toHaveValue("phone render two");

  // Wholly in view as the page opens, with no scrolling, and above the (long) inspector.
  const render = page.getByRole("button", { name: "Render", exact: true });
  await expect(render).toBeInViewport({ ratio: 1 });
  const top = async (name: string) =>
    (await page.getByRole("region", { name, exact: true }).boundingBox())?.y ?? Number.NaN;
  const inspectorTop = (await inspector.boundingBox())?.y ?? Number.NaN;
  expect(await top("Render")).toBeLessThan(inspectorTop);
  await shot(page, testInfo, "render-button-390px");

  await render.click();
  await page.getByRole("button", { name: "Start render" }).click();
  const progress = page.getByRole("region", { name: "Render progress" });
  await expect(progress).toHaveAttribute("data-status", "completed", { timeout: 90_000 });
  expect(await top("Render progress")).toBeLessThan((await inspector.boundingBox())?.y ?? Number.NaN);
  await expect(page.getByTestId("final-video")).toBeVisible();
  // Still no sideways scroll with the plan, the progress and the result in the column.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await shot(page, testInfo, "render-done-390px");
});
