import { type APIRequestContext, expect, type Page, test } from "@playwright/test";

/**
 * Issue 13: the UI never misleads and never loses an edit. Each test is written against the
 * behaviour the issue reports (job progress stuck at 0, stale "reused" labels, history showing
 * today's prompts, inspector edits lost on navigation) and fails on it.
 */

interface Session {
  token: string;
  projectId: string;
}

async function signUp(page: Page): Promise<string> {
  await page.goto("/");
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("Email").fill(`truth-${Date.now()}-${Math.random().toString(16).slice(2, 6)}@example.com`);
  await page.getByLabel("Password").fill("correct-horse-battery-42");
  await page.getByRole("button", { name: "Create account", exact: true }).last().click();
  await expect(page.getByTestId("user-email")).toBeVisible();
  const token = await page.evaluate(() => window.localStorage.getItem("videofoundry.token"));
  if (!token) throw new Error("no token after sign-up");
  return token;
}

/** A project with these segments (through the API), opened in the editor. */
async function openProject(
  page: Page,
  segments: { prompt: string; duration: number; model?: string; seed?: number }[],
): Promise<Session> {
  const token = await signUp(page);
  const auth = { Authorization: `Bearer ${token}` };
  const project = await (
    await page.request.post("/api/projects", { headers: auth, data: { name: "Truth", width: 320, height: 180 } })
  ).json();
  for (const body of segments) {
    const res = await page.request.post(`/api/projects/${project.id}/segments`, { headers: auth, data: body });
    expect(res.status()).toBe(201);
  }
  await page.goto(`/projects/${project.id}`);
  await expect(page.getByTestId("segment-block")).toHaveCount(segments.length);
  return { token, projectId: project.id };
}

async function renderNow(page: Page) {
  await page.getByRole("button", { name: "Render", exact: true }).click();
  await page.getByRole("button", { name: "Start render" }).click();
}

async function waitCompleted(page: Page) {
  await expect(page.getByRole("region", { name: "Render progress" })).toHaveAttribute("data-status", "completed", {
    timeout: 100_000,
  });
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: test.info().outputPath(`${name}.png`), fullPage: true });
}

async function segmentOnServer(request: APIRequestContext, token: string, id: string) {
  const res = await request.get(`/api/segments/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  return res.json();
}

test("overall progress moves while segments generate, never backwards, and ends at 100%", async ({ page }) => {
  await openProject(page, [
    { prompt: "slow one", duration: 1, model: "slow", seed: 1 },
    { prompt: "slow two", duration: 3, model: "slow", seed: 2 },
  ]);
  await renderNow(page);
  const job = page.getByTestId("job-progress");
  const seen: number[] = [];
  // Before composition starts (at 90%), the bar must already show generation advancing.
  await expect
    .poll(
      async () => {
        const value = Number(await job.getAttribute("data-progress"));
        seen.push(value);
        const status = await page.getByRole("region", { name: "Render progress" }).getAttribute("data-status");
        return status === "generating" && value > 0 && value < 0.9;
      },
      { timeout: 30_000, intervals: [100] },
    )
    .toBe(true);
  await expect(page.getByTestId("segment-block").first().getByTestId("segment-state")).toHaveText(/Generating/);
  // The header never calls a timeline's clips ready while they are still being made.
  await expect(page.getByTestId("needs-render")).toHaveText(/Generating \d segments?/);
  await shot(page, "progress-while-generating");
  await waitCompleted(page);
  seen.push(Number(await job.getAttribute("data-progress")));
  expect(seen.at(-1)).toBe(1);
  expect(seen).toEqual([...seen].sort((a, b) => a - b));
});

test("the time left appears once two segments have finished, while the job still runs", async ({ page }) => {
  // Two quick segments finish at once; the slow one keeps the job generating for seconds more.
  await openProject(page, [
    { prompt: "quick one", duration: 1, model: "procedural", seed: 1 },
    { prompt: "quick two", duration: 1, model: "procedural", seed: 2 },
    { prompt: "slow three", duration: 1, model: "slow", seed: 3 },
  ]);
  await renderNow(page);
  const progress = page.getByRole("region", { name: "Render progress" });
  const job = page.getByTestId("job-progress");
  await expect(job).toHaveText(/about \d+ (s|min) left/, { timeout: 30_000 });
  await expect(progress.locator('.job-segment[data-status="completed"]')).toHaveCount(2);
  await expect(progress).not.toHaveAttribute("data-status", "completed");
  await waitCompleted(page);
  await expect(job).not.toHaveText(/left/);
});

test("an edit says 'needs render' at once, 'ready' after rendering; an old job shows its old prompt", async ({
  page,
}) => {
  await openProject(page, [{ prompt: "a lighthouse at dawn", duration: 1, seed: 3 }]);
  const block = page.getByTestId("segment-block").first();
  await expect(block.getByTestId("segment-state")).toHaveText("Needs render");
  await expect(page.getByTestId("needs-render")).toHaveText(/1 segment needs a render/);
  await renderNow(page);
  await waitCompleted(page);
  await expect(block.getByTestId("segment-state")).toHaveText("Ready");
  await expect(page.getByTestId("needs-render")).toHaveText("All clips ready");

  const inspector = page.getByRole("form", { name: "Segment inspector" });
  await inspector.getByLabel("Prompt", { exact: true }).fill("a lighthouse at dusk");
  // Right away, not after a reload or a render: the old job's "reused" would be a lie now.
  await expect(block.getByTestId("segment-state")).toHaveText("Needs render");
  await expect(inspector.getByTestId("segment-state")).toHaveText("Needs render");
  await expect(page.getByTestId("needs-render")).toHaveText(/1 segment needs a render/);
  await expect(inspector.getByTestId("save-status")).toHaveAttribute("data-status", "saved");
  await shot(page, "needs-render-after-edit");

  await renderNow(page);
  await waitCompleted(page);
  await expect(block.getByTestId("segment-state")).toHaveText("Ready");

  // History: the first job still shows the prompt it rendered, and its clip plays.
  const history = page.getByRole("region", { name: "Render history" }).getByRole("button");
  await expect(history).toHaveCount(2);
  await history.last().click();
  const progress = page.getByRole("region", { name: "Render progress" });
  await expect(progress.getByTestId("job-segment-prompt")).toHaveText("1. a lighthouse at dawn");
  // Showing an old job does not bring back the takes as they were then: both renders made one.
  await expect(page.getByTestId("takes").getByRole("heading")).toHaveText("Takes (2)");
  await history.first().click();
  await expect(progress.getByTestId("job-segment-prompt")).toHaveText("1. a lighthouse at dusk");
  await history.last().click();
  await progress.getByText("Play this clip").click();
  const clip = progress.getByTestId("job-segment-clip");
  const src = await clip.getAttribute("src");
  const file = await page.request.get(new URL(src ?? "", page.url()).toString());
  expect(file.status()).toBe(200);
  await shot(page, "old-job-old-prompt");
});

test("an unsaved edit survives clicking away, leaving for the list, Back, a reload and pressing Render", async ({
  page,
}) => {
  const { token } = await openProject(page, [
    { prompt: "first shot", duration: 1, seed: 4 },
    { prompt: "second shot", duration: 1, seed: 5 },
  ]);
  const blocks = page.getByTestId("segment-block");
  const inspector = page.getByRole("form", { name: "Segment inspector" });
  const prompt = inspector.getByLabel("Prompt", { exact: true });
  const firstId = (await blocks.first().getAttribute("data-segment-id")) ?? "";

  // Click away at once, before the autosave pause is over, then come back.
  await prompt.fill("edited, then clicked away");
  await blocks.nth(1).click();
  await expect(prompt).toHaveValue("second shot");
  await blocks.first().click();
  await expect(prompt).toHaveValue("edited, then clicked away");
  await expect
    .poll(async () => (await segmentOnServer(page.request, token, firstId)).prompt)
    .toBe("edited, then clicked away");

  // Leave for the project list at once after typing, then open the project again.
  await prompt.fill("edited, then left for the list");
  await page.getByRole("button", { name: "← Projects" }).click();
  await page.locator(".project-link").first().click();
  await expect(blocks.first()).toHaveAttribute("data-segment-id", firstId);
  await expect(prompt).toHaveValue("edited, then left for the list");
  await expect
    .poll(async () => (await segmentOnServer(page.request, token, firstId)).prompt)
    .toBe("edited, then left for the list");

  // The browser's Back at once after typing does the same: the edit is saved before the list
  // shows, without reopening the project.
  await prompt.fill("edited, then went back");
  await page.goBack();
  await expect(page.locator(".project-link").first()).toBeVisible();
  await expect
    .poll(async () => (await segmentOnServer(page.request, token, firstId)).prompt)
    .toBe("edited, then went back");
  await page.locator(".project-link").first().click();
  await expect(prompt).toHaveValue("edited, then went back");

  // Reload at once after typing: the page asks first (beforeunload), and once left, the edit
  // comes back from this tab's storage and is saved.
  await prompt.fill("edited, then reloaded");
  await page.evaluate(() => Object.assign(window, { beforeReload: true }));
  const asked = page.waitForEvent("dialog").then(async (dialog) => {
    const type = dialog.type();
    await dialog.accept();
    return type;
  });
  await page.reload();
  expect(await asked).toBe("beforeunload");
  expect(await page.evaluate(() => "beforeReload" in window)).toBe(false);
  await expect(prompt).toHaveValue("edited, then reloaded");
  await expect
    .poll(async () => (await segmentOnServer(page.request, token, firstId)).prompt)
    .toBe("edited, then reloaded");

  // Render at once after typing: the plan is of what is on screen.
  await prompt.fill("edited, then rendered");
  await page.getByRole("button", { name: "Render", exact: true }).click();
  const plan = page.getByRole("region", { name: "Render plan" });
  await expect(plan).toContainText("2 to generate");
  await expect(plan).toContainText("edited, then rendered");
  expect((await segmentOnServer(page.request, token, firstId)).prompt).toBe("edited, then rendered");
  await shot(page, "plan-after-flush");
});

test("a conflict with a second tab is shown, with the other tab's version, and resolved", async ({ page, context }) => {
  const { projectId } = await openProject(page, [{ prompt: "shared shot", duration: 1, seed: 6 }]);
  const other = await context.newPage();
  await other.goto(`/projects/${projectId}`);
  const mine = page.getByRole("form", { name: "Segment inspector" });
  const theirs = other.getByRole("form", { name: "Segment inspector" });
  await expect(theirs.getByLabel("Prompt", { exact: true })).toHaveValue("shared shot");

  await theirs.getByLabel("Prompt", { exact: true }).fill("the other tab's prompt");
  await expect(theirs.getByTestId("save-status")).toHaveAttribute("data-status", "saved");

  // This tab still holds the older version: its save is refused, nothing is overwritten.
  await mine.getByLabel("Prompt", { exact: true }).fill("this tab's prompt");
  const conflict = mine.getByTestId("save-conflict");
  await expect(conflict).toBeVisible();
  await expect(conflict).toContainText("the other tab's prompt");
  await expect(mine.getByTestId("save-status")).toHaveAttribute("data-status", "conflict");
  await shot(page, "conflict-shown");

  await conflict.getByRole("button", { name: "Use theirs" }).click();
  await expect(mine.getByLabel("Prompt", { exact: true })).toHaveValue("the other tab's prompt");
  await expect(mine.getByTestId("save-status")).toHaveAttribute("data-status", "saved");
  await other.close();
});

test("an empty project offers no contact sheet; a long block keeps its labels in view; the file button is dark", async ({
  page,
}) => {
  const { token, projectId } = await openProject(page, []);
  await expect(page.getByText(/No segments yet\. Add one/)).toBeVisible();
  await expect(page.getByTestId("needs-render")).toHaveText("No segments yet");
  await expect(page.getByRole("region", { name: "Contact sheet" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Render", exact: true })).toBeDisabled();

  // A 30 s shot is far wider than the card: scrolled along, its labels stay in the visible part.
  const res = await page.request.post(`/api/projects/${projectId}/segments`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { prompt: "a very long establishing shot", duration: 30, seed: 8 },
  });
  expect(res.status()).toBe(201);
  await page.reload();
  const timeline = page.getByRole("list", { name: "Timeline" });
  const block = page.getByTestId("segment-block").first();
  await expect(block).toBeVisible();
  for (const scroll of [0, 1200, 2400]) {
    await timeline.evaluate((el, x) => {
      el.scrollLeft = x;
    }, scroll);
    const view = await timeline.boundingBox();
    const labels = await block.locator(".segment-labels").boundingBox();
    if (!view || !labels) throw new Error("timeline or labels not laid out");
    expect(labels.x).toBeGreaterThanOrEqual(view.x);
    expect(labels.x + labels.width).toBeLessThanOrEqual(view.x + view.width);
    await expect(block.getByTestId("segment-state")).toBeInViewport();
  }
  await shot(page, "long-block-scrolled");

  // The soundtrack's file picker: its button drawn in the dark theme, not the browser's light grey.
  await page.getByRole("button", { name: "Settings" }).click();
  const file = page.getByRole("form", { name: "Project settings" }).locator('input[type="file"]');
  const [background, text] = await file.evaluate((el) => {
    const style = getComputedStyle(el, "::file-selector-button");
    return [style.backgroundColor, style.color];
  });
  const luminance = (css: string) => {
    const [r = 0, g = 0, b = 0] = (css.match(/\d+(\.\d+)?/g) ?? []).map(Number);
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  };
  expect(luminance(background)).toBeLessThan(0.3);
  expect(luminance(text)).toBeGreaterThan(0.6);
  await shot(page, "file-button-dark");
});
