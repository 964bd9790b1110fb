// The operator's monitor selector (docs/protocol.md 2.8): which of the customer's monitors
// the console shows. Pure logic, no DOM, so node --test covers it
// (tests/js/session_monitors.test.mjs).

// Mirrors tasuke.limits.MAX_MONITORS and MAX_FRAMEBUFFER_DIM.
export const MAX_MONITORS = 16;
const MAX_DIM = 16384;

export const MONITOR_TEXT = Object.freeze({
  label: "Monitor / モニター",
  all: "All monitors / すべてのモニター",
});

/**
 * The `monitors` field of the agent's info message: a list of [x, y, width, height].
 * Absent means none listed. Throws on anything malformed (the session then ends).
 */
export function checkMonitors(value) {
  if (value === undefined) return [];
  const coord = (n) => Number.isInteger(n) && n >= 0 && n <= MAX_DIM;
  const dim = (n) => Number.isInteger(n) && n > 0 && n <= MAX_DIM;
  const ok =
    Array.isArray(value) &&
    value.length <= MAX_MONITORS &&
    value.every(
      (m) =>
        Array.isArray(m) && m.length === 4 && coord(m[0]) && coord(m[1]) && dim(m[2]) && dim(m[3]),
    );
  if (!ok) throw new Error("malformed monitors list");
  return value.map((m) => [...m]);
}

/**
 * The agent's `monitors` message: exactly `type`, `monitors` (as in info) and `selected`, an
 * integer 0..monitors.length (0: all). Returns {monitors, selected}, copies of numbers only.
 * Throws on anything malformed (the session then ends, as for a malformed info).
 */
export function checkMonitorsMessage(msg) {
  const fields = Object.keys(msg).sort();
  if (fields.length !== 3 || fields.join(",") !== "monitors,selected,type") {
    throw new Error("malformed monitors message");
  }
  const monitors = checkMonitors(msg.monitors);
  const { selected } = msg;
  if (!Number.isInteger(selected) || selected < 0 || selected > monitors.length) {
    throw new Error("malformed monitors message");
  }
  return { monitors, selected };
}

/** A monitor's label: "Monitor 2 / モニター 2 (1920 × 1080)". */
export function monitorLabel(index, monitor) {
  return `Monitor ${index} / モニター ${index} (${monitor[2]} × ${monitor[3]})`;
}

/**
 * The selector's choices, [{value, label}], "all" first; none (no selector) unless the
 * customer has two monitors or more.
 */
export function monitorOptions(monitors) {
  if (!Array.isArray(monitors) || monitors.length < 2) return [];
  return [
    { value: 0, label: MONITOR_TEXT.all },
    ...monitors.map((m, i) => ({ value: i + 1, label: monitorLabel(i + 1, m) })),
  ];
}

/**
 * The channel-0 message asking the agent to show monitor `value` (0: all) of `count`.
 * Throws on a value outside 0..count: the agent would end the session for it.
 */
export function monitorMessage(value, count) {
  const index = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (!Number.isInteger(index) || index < 0 || index > count) {
    throw new Error("no such monitor");
  }
  return { type: "monitor", select: index };
}

const sameBox = (a, b) => a.every((n, i) => n === b[i]);
const sameList = (a, b) => a.length === b.length && a.every((m, i) => sameBox(m, b[i]));

const shownText = (selected) =>
  selected === 0
    ? { en: "all monitors", ja: "すべてのモニター" }
    : { en: `monitor ${selected}`, ja: `モニター ${selected} ` };

/**
 * What to tell the operator when the agent's `monitors` message arrives: "" when it says
 * nothing new (the note shown before stays). `previous` is the list the console had,
 * `shown` the monitor it showed or last asked for (0: all); `monitors` and `selected` are
 * the agent's message. Claims only what the message shows: a monitor is "not connected any
 * more" only when its rectangle is missing from the new list.
 */
export function monitorNotice(previous, shown, monitors, selected) {
  const now = shownText(selected);
  if (!sameList(previous, monitors)) {
    const was = shown > 0 ? previous[shown - 1] : undefined;
    if (selected === 0 && was && !monitors.some((m) => sameBox(m, was))) {
      return (
        `Monitor ${shown} is not connected any more: showing all monitors. / ` +
        `モニター ${shown} が接続されていないため、すべてのモニターを表示しています。`
      );
    }
    const count = monitors.length;
    return count > 0
      ? `The customer's monitors changed: ${count} connected, showing ${now.en}. / ` +
          `お客様のモニター構成が変わりました（${count} 台）。${now.ja}を表示しています。`
      : "The customer's monitors changed. / お客様のモニター構成が変わりました。";
  }
  if (selected !== shown) {
    // The same list: the operator asked for a monitor the agent no longer had when the
    // request arrived (the lists crossed), and it kept what it showed.
    return (
      `Monitor ${shown} could not be shown: showing ${now.en}. / ` +
      `モニター ${shown} を表示できませんでした。${now.ja}を表示しています。`
    );
  }
  return "";
}
