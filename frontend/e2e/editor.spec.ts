import { expect, test } from "@playwright/test";

test("auth errors, paginated projects, delete with confirm, inspector form and validation", async ({ page }) => {
  const email = `ui-${Date.now()}@example.com`;
  const password = "correct-horse-battery-42";

  await page.goto("/");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).last().click();
  await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");

  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByRole("button", { name: "Create account", exact: true }).last().click();
  await expect(page.getByTestId("user-email")).toHaveText(email);

  // Client-side check next to the field
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByText("Give the project a name")).toBeVisible();

  // 22 projects through the API with the UI's own token: two pages
  const token = await page.evaluate(() => window.localStorage.getItem("videofoundry.token"));
  expect(token).toBeTruthy();
  for (let i = 1; i <= 22; i++) {
    const res = await page.request.post("/api/projects", {
      headers: { Authorization: `Bearer ${token}` },
      data: { name: `Project ${String(i).padStart(2, "0")}` },
    });
    expect(res.status()).toBe(201);
  }
  await page.reload();
  await expect(page.getByText("1–20 of 22")).toBeVisible();
  await expect(page.locator(".project-item")).toHaveCount(20);
  await page.getByRole("button", { name: "Next →" }).click();
  await expect(page.getByText("21–22 of 22")).toBeVisible();
  await expect(page.locator(".project-item")).toHaveCount(2);

  // Delete asks first; cancelling keeps it
  const first = page.locator(".project-item").first();
  const name = (await first.locator("strong").textContent()) ?? "";
  await first.getByRole("button", { name: `Delete ${name}` }).click();
  await expect(page.getByRole("alertdialog")).toContainText("Delete project?");
  await page.getByRole("alertdialog").getByRole("button", { name: "Cancel" }).click();
  await expect(page.locator(".project-item")).toHaveCount(2);
  await first.getByRole("button", { name: `Delete ${name}` }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
  await expect(page.getByText("21–21 of 21")).toBeVisible();

  // Editor: models, params form from the schema, validation, duplicate, delete, undo
  await page.getByRole("button", { name: "← Previous" }).click();
  await page.locator(".project-link").first().click();
  await page.getByRole("button", { name: "Settings" }).click();
  const settings = page.getByRole("form", { name: "Project settings" });
  await settings.getByLabel("Name").fill("Renamed project");
  await settings.getByLabel("FPS").fill("30");
  await settings.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("heading", { name: "Renamed project" })).toBeVisible();
  await expect(page.getByText("1280×720 · 30 fps")).toBeVisible();

  await page.getByRole("button", { name: "+ Add segment" }).click();
  const inspector = page.getByRole("form", { name: "Segment inspector" });
  const model = inspector.getByLabel("Model");
  await expect(model).toHaveValue("procedural");
  const unavailable = model.locator("option[disabled]").first();
  await expect(unavailable).toHaveAttribute("title", /is not set|unavailable/i);

  const speed = inspector.getByLabel(/Speed/);
  await speed.fill("99");
  await expect(inspector.getByText(/Must be at most/)).toBeVisible();
  await expect(inspector.getByTestId("save-status")).toHaveAttribute("data-status", "error");
  await speed.fill("2");
  const saved = page.waitForResponse((r) => r.url().includes("/api/segments/") && r.request().method() === "PUT");
  await inspector.getByLabel("Prompt", { exact: true }).fill("a slow orbit");
  const body = JSON.parse((await saved).request().postData() ?? "{}");
  expect(body).toEqual({ prompt: "a slow orbit", params: { speed: 2 } });
  await expect(page.getByTestId("segment-block").first()).toContainText("a slow orbit");

  await page.getByRole("button", { name: "Undo" }).click();
  await expect(page.getByTestId("segment-block").first()).not.toContainText("a slow orbit");
  await page.getByRole("button", { name: "Redo" }).click();
  await expect(page.getByTestId("segment-block").first()).toContainText("a slow orbit");

  await inspector.getByRole("button", { name: "Duplicate" }).click();
  await expect(page.getByTestId("segment-block")).toHaveCount(2);
  await expect(page.getByTestId("segment-block").nth(1)).toHaveAttribute("aria-current", "true");
  await inspector.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
  await expect(page.getByTestId("segment-block")).toHaveCount(1);

  // Sign out returns to the login screen and forgets the token
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("tab", { name: "Sign in" })).toBeVisible();
  expect(await page.evaluate(() => window.localStorage.getItem("videofoundry.token"))).toBeNull();
});
