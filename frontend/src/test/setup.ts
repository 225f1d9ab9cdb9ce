import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";
import { queryClient } from "../api/queryClient";

afterEach(() => {
  cleanup();
  window.localStorage.clear();
  // Unsaved edits kept for a reload: one test's must not be resumed by the next.
  window.sessionStorage.clear();
  // Server state cached by one test (models, lists) must not answer for the next.
  queryClient.clear();
});
