import { describe, expect, it } from "vitest";
import { formatSeconds, formatTimecode } from "./format";

describe("formatTimecode", () => {
  it("writes hours, minutes, seconds and the frame at the project's rate", () => {
    expect(formatTimecode(0, 24)).toBe("00:00:00:00");
    expect(formatTimecode(1.5, 24)).toBe("00:00:01:12");
    expect(formatTimecode(1.5, 30)).toBe("00:00:01:15");
    expect(formatTimecode(3725 + 23 / 24, 24)).toBe("01:02:05:23");
  });

  it("shows the frame on screen: a partial frame is dropped, a frame boundary is kept", () => {
    expect(formatTimecode(1 / 24 - 0.001, 24)).toBe("00:00:00:00");
    expect(formatTimecode(3 / 24, 24)).toBe("00:00:00:03");
    expect(formatTimecode(59.999, 25)).toBe("00:00:59:24");
  });

  it("leaves the frames off on request, for whole seconds", () => {
    expect(formatTimecode(65, 24, { frames: false })).toBe("00:01:05");
    expect(formatTimecode(7200, 24, { frames: false })).toBe("02:00:00");
  });

  it("clamps negative times to zero", () => {
    expect(formatTimecode(-2, 24)).toBe("00:00:00:00");
  });
});

describe("formatSeconds", () => {
  it("writes seconds under a minute and minutes:seconds above", () => {
    expect(formatSeconds(1.5)).toBe("1.5 s");
    expect(formatSeconds(4)).toBe("4 s");
    expect(formatSeconds(65)).toBe("1:05");
    expect(formatSeconds(65.25)).toBe("1:05.3");
  });

  it("carries a rounding into the next minute instead of writing 60 seconds", () => {
    expect(formatSeconds(59.999)).toBe("1:00");
    expect(formatSeconds(119.96)).toBe("2:00");
    expect(formatSeconds(59.99)).toBe("59.99 s");
  });

  it("writes a dash for no number", () => {
    expect(formatSeconds(Number.NaN)).toBe("–");
  });
});
