import { expect, type Page, test } from "@playwright/test";

/** A 1×1 PNG, fixed. */
const PNG_1X1 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

/** One second of a 440 Hz tone as 8 kHz mono 16-bit PCM WAV. */
function toneWav(seconds = 1, rate = 8000): Buffer {
  const samples = Math.round(seconds * rate);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++)
    data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write("WAVE", 8);
  header.write("fmt ", 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

async function register(page: Page) {
  await page.goto("/");
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("Email").fill(`features-${Date.now()}@example.com`);
  await page.getByLabel("Password").fill("correct-horse-battery-42");
  await page.getByRole("button", { name: "Create account", exact: true }).last().click();
  await expect(page.getByTestId("user-email")).toBeVisible();
}

test("caption, crossfade, init image and soundtrack; render with captions and a contact sheet", async ({
  page,
}, testInfo) => {
  await register(page);
  await page.getByLabel("Name").fill("Features project");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { name: "Features project" })).toBeVisible();

  // An empty project has nothing for a contact sheet: no toggle for one
  const sheet = page.getByRole("region", { name: "Contact sheet" });
  await expect(page.getByRole("region", { name: "Render", exact: true })).toBeVisible();
  await expect(sheet).toHaveCount(0);

  // Project settings: a bad soundtrack is refused with the API's message, a WAV is taken
  await page.getByRole("button", { name: "Settings" }).click();
  const settings = page.getByRole("form", { name: "Project settings" });
  await settings
    .getByLabel("Upload soundtrack")
    .setInputFiles({ name: "noise.mp3", mimeType: "audio/mpeg", buffer: Buffer.from("not audio at all") });
  await expect(settings.getByRole("alert")).toContainText(/audio/);
  const uploaded = page.waitForResponse((r) => r.url().endsWith("/api/assets") && r.request().method() === "POST");
  await settings
    .getByLabel("Upload soundtrack")
    .setInputFiles({ name: "tone.wav", mimeType: "audio/wav", buffer: toneWav() });
  expect((await uploaded).status()).toBe(201);
  await expect(settings.getByTestId("soundtrack")).toContainText("♪ Audio, 1 s");
  await settings.getByLabel("Default transition").selectOption("fade_black");
  const projectSaved = page.waitForResponse(
    (r) => /\/api\/projects\/[^/]+$/.test(r.url()) && r.request().method() === "PUT",
  );
  await settings.getByRole("button", { name: "Save" }).click();
  const projectBody = JSON.parse((await projectSaved).request().postData() ?? "{}");
  expect(projectBody.default_transition).toEqual({ kind: "fade_black", duration: 0.5 });
  expect(typeof projectBody.soundtrack_asset_id).toBe("string");
  await expect(settings).toBeHidden();

  // Segment 1: caption, crossfade into the next, a PNG init image
  const blocks = page.getByTestId("segment-block");
  await page.getByRole("button", { name: "+ Add segment" }).click();
  await expect(blocks).toHaveCount(1);
  const inspector = page.getByRole("form", { name: "Segment inspector" });
  await inspector.getByLabel("Prompt", { exact: true }).fill("first shot: a lighthouse");
  await inspector.getByLabel("Duration (s)").fill("1");
  await inspector.getByLabel("Caption").fill("Hello from the lighthouse");
  await inspector.getByLabel("Transition into next").selectOption("crossfade");
  await expect(inspector.getByLabel("Transition length (s)")).toHaveValue("0.5");
  await inspector.getByLabel("Transition length (s)").fill("0.4");

  // A file that is not an image: the 422 shows next to the picker
  await inspector
    .getByLabel(/Upload init image/)
    .setInputFiles({ name: "fake.png", mimeType: "image/png", buffer: Buffer.from("definitely not a png") });
  await expect(inspector.getByText(/not a readable image/)).toBeVisible();
  await inspector
    .getByLabel(/Upload init image/)
    .setInputFiles({ name: "frame.png", mimeType: "image/png", buffer: PNG_1X1 });
  const preview = inspector.getByTestId("init-image-preview");
  await expect(preview).toBeVisible();
  await expect.poll(() => preview.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(1);

  // Autosave sent it all; the API has every field
  await expect(inspector.getByTestId("save-status")).toHaveAttribute("data-status", "saved");
  const token = await page.evaluate(() => window.localStorage.getItem("videofoundry.token"));
  const segmentId = await blocks.nth(0).getAttribute("data-segment-id");
  const stored = await (
    await page.request.get(`/api/segments/${segmentId}`, { headers: { Authorization: `Bearer ${token}` } })
  ).json();
  expect(stored).toMatchObject({
    prompt: "first shot: a lighthouse",
    duration: 1,
    caption: "Hello from the lighthouse",
    transition: { kind: "crossfade", duration: 0.4 },
  });
  expect(typeof stored.init_image_asset_id).toBe("string");
  await expect(blocks.nth(0).getByTestId("caption-marker")).toBeVisible();
  await expect(blocks.nth(0).getByTestId("transition-marker")).toHaveAttribute("data-kind", "crossfade");

  // After a reload the inspector shows the saved values and the image preview
  await page.reload();
  await expect(inspector.getByLabel("Caption")).toHaveValue("Hello from the lighthouse");
  await expect(inspector.getByLabel("Transition into next")).toHaveValue("crossfade");
  await expect(inspector.getByTestId("init-image-preview")).toBeVisible();

  // Segment 2, plain
  await page.getByRole("button", { name: "+ Add segment" }).click();
  await expect(blocks).toHaveCount(2);
  await inspector.getByLabel("Prompt", { exact: true }).fill("second shot: the sea");
  await inspector.getByLabel("Duration (s)").fill("1");
  await inspector.getByLabel("Caption").fill("And the sea");
  await expect(inspector.getByTestId("save-status")).toHaveAttribute("data-status", "saved");
  await expect(blocks.nth(1).getByTestId("transition-marker")).toHaveCount(0);

  // Render
  await page.getByRole("button", { name: "Render", exact: true }).click();
  await page.getByRole("button", { name: "Start render" }).click();
  const progress = page.getByRole("region", { name: "Render progress" });
  await expect(progress).toHaveAttribute("data-status", "completed", { timeout: 100_000 });

  const video = page.getByTestId("final-video");
  const src = await video.getAttribute("src");
  expect(src).toBeTruthy();
  const file = await page.request.get(new URL(src ?? "", page.url()).toString());
  expect(file.status()).toBe(200);
  expect(file.headers()["content-type"]).toContain("video/mp4");

  const track = video.locator("track");
  await expect(track).toHaveAttribute("kind", "captions");
  await expect(track).toHaveAttribute("default", "");
  const captionsUrl = await track.getAttribute("src");
  expect(captionsUrl).toBeTruthy();
  const vtt = await page.request.get(new URL(captionsUrl ?? "", page.url()).toString());
  expect(vtt.status()).toBe(200);
  const text = await vtt.text();
  expect(text.startsWith("WEBVTT")).toBe(true);
  expect(text).toContain("Hello from the lighthouse");
  expect(text).toContain("And the sea");

  // The contact sheet, fetched with the bearer token and shown from an object URL
  await sheet.getByRole("button", { name: "Show contact sheet" }).click();
  const image = sheet.getByTestId("contact-sheet-image");
  await expect(image).toBeVisible({ timeout: 30_000 });
  expect(await image.getAttribute("src")).toMatch(/^blob:/);
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);

  const shot = testInfo.outputPath("features-rendered.png");
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach("features-rendered", { path: shot, contentType: "image/png" });
});
