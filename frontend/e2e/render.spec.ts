import { expect, type Locator, type Page, test } from "@playwright/test";

/** Drag a timeline block onto another with real pointer moves (dnd-kit's PointerSensor). */
async function dragBlock(page: Page, from: Locator, to: Locator) {
  // The inspector can be taller than the viewport, so saving may have scrolled the timeline away.
  await from.scrollIntoViewIfNeeded();
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  if (!a || !b) throw new Error("blocks are not visible");
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  // past the 6px activation distance first, then across in small steps
  await page.mouse.move(a.x + a.width / 2 + 12, a.y + a.height / 2, { steps: 4 });
  await page.mouse.move(b.x + b.width * 0.75, b.y + b.height / 2, { steps: 20 });
  await page.mouse.up();
}

async function editSelected(page: Page, prompt: string, duration: string) {
  const inspector = page.getByRole("form", { name: "Segment inspector" });
  const saved = page.waitForResponse((r) => r.url().includes("/api/segments/") && r.request().method() === "PUT");
  await inspector.getByLabel("Prompt", { exact: true }).fill(prompt);
  await inspector.getByLabel("Duration (s)").fill(duration);
  expect((await saved).status()).toBe(200);
  // Autosave: the edit goes out by itself after a pause in typing.
  await expect(inspector.getByTestId("save-status")).toHaveAttribute("data-status", "saved");
}

test("register, build a two-segment timeline, reorder by drag, render and play", async ({ page }, testInfo) => {
  const email = `e2e-${Date.now()}@example.com`;

  // Register (which signs in)
  await page.goto("/");
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct-horse-battery-42");
  await page.getByRole("button", { name: "Create account", exact: true }).last().click();
  await expect(page.getByTestId("user-email")).toHaveText(email);

  // Create a project
  await page.getByLabel("Name").fill("E2E project");
  await page.getByLabel("Output size").selectOption({ label: "960×960 (square)" });
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { name: "E2E project" })).toBeVisible();
  await expect(page).toHaveURL(/\/projects\/[^/]+$/);

  // Two procedural segments of one second
  const blocks = page.getByTestId("segment-block");
  await page.getByRole("button", { name: "+ Add segment" }).click();
  await expect(blocks).toHaveCount(1);
  await expect(page.getByLabel("Model")).toHaveValue("procedural");
  await editSelected(page, "first shot: sunrise over hills", "1");
  await page.getByRole("button", { name: "+ Add segment" }).click();
  await expect(blocks).toHaveCount(2);
  await editSelected(page, "second shot: city at night", "1");
  await expect(page.getByTestId("total-duration")).toContainText("2 s");
  await expect(blocks.nth(0)).toContainText("sunrise");
  await expect(blocks.nth(1)).toContainText("city at night");

  // Reorder by drag: one PUT with both ids, new order shown and kept after a reload
  const reordered = page.waitForResponse((r) => r.url().includes("/segments/order") && r.request().method() === "PUT");
  await dragBlock(page, blocks.nth(0), blocks.nth(1));
  const response = await reordered;
  expect(response.status()).toBe(200);
  expect(JSON.parse(response.request().postData() ?? "{}").segment_ids).toHaveLength(2);
  await expect(blocks.nth(0)).toContainText("city at night");
  await expect(blocks.nth(1)).toContainText("sunrise");
  await page.reload();
  await expect(blocks.nth(0)).toContainText("city at night");

  // Plan, then render
  await page.getByRole("button", { name: "Render", exact: true }).click();
  const plan = page.getByRole("region", { name: "Render plan" });
  await expect(plan).toContainText("2 to generate, 0 reused");
  await page.getByRole("button", { name: "Start render" }).click();

  const progress = page.getByRole("region", { name: "Render progress" });
  await expect(progress).toBeVisible();
  await expect(progress).toHaveAttribute("data-status", "completed", { timeout: 100_000 });
  await expect(progress.getByRole("progressbar", { name: "Overall progress" })).toHaveAttribute("aria-valuenow", "100");
  await expect(progress.locator(".job-segment[data-status=completed]")).toHaveCount(2);

  // The final video: the player's URL answers with an MP4
  const video = page.getByTestId("final-video");
  await expect(video).toBeVisible();
  const src = await video.getAttribute("src");
  expect(src).toBeTruthy();
  const file = await page.request.get(new URL(src ?? "", page.url()).toString());
  expect(file.status()).toBe(200);
  expect(file.headers()["content-type"]).toContain("video/mp4");
  expect((await file.body()).byteLength).toBeGreaterThan(1000);
  await expect(page.getByTestId("download-link")).toHaveAttribute("href", src ?? "");

  // Blocks show their state and the history lists the job
  await expect(blocks.nth(0).getByTestId("segment-state")).toHaveText("Ready");
  await expect(page.getByRole("region", { name: "Render history" }).getByRole("button")).toHaveCount(1);

  // Play: the browser decodes the video and its playhead moves (woken by timeupdate events).
  const played = await video.evaluate(
    (el: HTMLVideoElement) =>
      new Promise<number>((resolve, reject) => {
        el.addEventListener("error", () => reject(new Error(`media error ${el.error?.code ?? "?"}`)));
        el.addEventListener("timeupdate", () => {
          if (el.currentTime > 0.2) resolve(el.currentTime);
        });
        el.muted = true; // autoplay without a user gesture is allowed muted
        el.play().catch(reject);
      }),
  );
  expect(played).toBeGreaterThan(0.2);
  testInfo.annotations.push({ type: "played to", description: `${played} s` });

  const shot = testInfo.outputPath("render-completed.png");
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach("render-completed", { path: shot, contentType: "image/png" });
});
