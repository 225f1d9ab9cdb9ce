import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import { api } from "../../api/endpoints";
import { appStore } from "../../store";
import { deferred } from "../../test/factories";
import { LoginPage } from "./LoginPage";

const initial = appStore.getState();
afterEach(() => {
  vi.restoreAllMocks();
  appStore.setState(initial, true);
});

function show() {
  render(
    <QueryClientProvider client={new QueryClient()}>
      <LoginPage />
    </QueryClientProvider>,
  );
}

function submit(tab: "Sign in" | "Create account", email: string, password: string) {
  fireEvent.click(screen.getByRole("tab", { name: tab }));
  fireEvent.change(screen.getByLabelText("Email"), { target: { value: email } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: password } });
  const form = screen.getByRole("form", { name: tab });
  fireEvent.click(within(form).getByRole("button", { name: tab }));
}

describe("<LoginPage>", () => {
  it("says a wrong password is wrong, and signs in at the next try", async () => {
    const login = vi.spyOn(api, "login").mockRejectedValueOnce(new ApiError(401, "Incorrect email or password"));
    vi.spyOn(api, "me").mockResolvedValue({ id: "u1", email: "a@b.c", budget_usd: null, spent_usd: 0, created_at: "" });
    show();
    submit("Sign in", " a@b.c ", "nope");
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong email or password.");
    expect(login).toHaveBeenCalledWith("a@b.c", "nope");
    expect(appStore.getState().token).toBeNull();

    login.mockResolvedValueOnce({ access_token: "abc", token_type: "bearer" });
    submit("Sign in", "a@b.c", "right");
    await vi.waitFor(() => expect(appStore.getState().user?.email).toBe("a@b.c"));
    expect(appStore.getState().token).toBe("abc");
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("disables the button while the sign-in is on its way", async () => {
    const answer = deferred<{ access_token: string; token_type: string }>();
    vi.spyOn(api, "login").mockReturnValue(answer.promise);
    vi.spyOn(api, "me").mockResolvedValue({ id: "u1", email: "a@b.c", budget_usd: null, spent_usd: 0, created_at: "" });
    show();
    submit("Sign in", "a@b.c", "pw");
    const button = await screen.findByRole("button", { name: "…" });
    expect(button).toBeDisabled();
    answer.resolve({ access_token: "abc", token_type: "bearer" });
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeEnabled();
  });

  it("says an email is taken when creating an account", async () => {
    vi.spyOn(api, "register").mockRejectedValue(new ApiError(409, "email already registered"));
    const login = vi.spyOn(api, "login");
    show();
    submit("Create account", "a@b.c", "password1");
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "An account with this email already exists. Sign in instead.",
    );
    expect(login).not.toHaveBeenCalled();
  });

  it("shows a 422's message next to its field", async () => {
    vi.spyOn(api, "register").mockRejectedValue(
      new ApiError(422, "password: too short", { password: "String should have at least 8 characters" }),
    );
    show();
    submit("Create account", "a@b.c", "short");
    const password = screen.getByLabelText("Password").closest(".field") as HTMLElement;
    expect(await within(password).findByRole("alert")).toHaveTextContent("String should have at least 8 characters");
    const email = screen.getByLabelText("Email").closest(".field") as HTMLElement;
    expect(within(email).queryByRole("alert")).not.toBeInTheDocument();
  });

  it("names the email field for a 422 on the token endpoint's 'username'", async () => {
    vi.spyOn(api, "login").mockRejectedValue(new ApiError(422, "username: required", { username: "Field required" }));
    show();
    submit("Sign in", "a@b.c", "pw");
    const email = screen.getByLabelText("Email").closest(".field") as HTMLElement;
    expect(await within(email).findByRole("alert")).toHaveTextContent("Field required");
  });

  it("says why it is on show after the session expired", () => {
    appStore.getState().logout("Your session expired. Please sign in again.");
    show();
    expect(screen.getByRole("alert")).toHaveTextContent("Your session expired. Please sign in again.");
  });
});
