// The operator's monitor selector (static/js/session_monitors.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  MAX_MONITORS,
  MONITOR_TEXT,
  checkMonitors,
  checkMonitorsMessage,
  monitorMessage,
  monitorNotice,
  monitorOptions,
} from "../../src/tasuke/server/static/js/session_monitors.js";
import { checkAgentControl } from "../../src/tasuke/server/static/js/session_text.js";

const TWO = [
  [0, 0, 1920, 1080],
  [1920, 0, 1280, 1024],
];
const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/;

test("one monitor or none: no selector", () => {
  assert.deepEqual(monitorOptions([]), []);
  assert.deepEqual(monitorOptions([[0, 0, 800, 600]]), []);
  assert.deepEqual(monitorOptions(undefined), []);
});

test("two monitors: all of them first, then each, in both languages", () => {
  const options = monitorOptions(TWO);
  assert.deepEqual(
    options.map((o) => o.value),
    [0, 1, 2],
  );
  assert.equal(options[0].label, "All monitors / すべてのモニター");
  assert.equal(options[1].label, "Monitor 1 / モニター 1 (1920 × 1080)");
  assert.equal(options[2].label, "Monitor 2 / モニター 2 (1280 × 1024)");
  for (const text of [...Object.values(MONITOR_TEXT), ...options.map((o) => o.label)]) {
    assert.match(text, /[A-Za-z]/);
    assert.match(text, JAPANESE);
  }
});

test("selecting sends a monitor message the agent accepts, and nothing else", () => {
  assert.deepEqual(monitorMessage("2", 2), { type: "monitor", select: 2 });
  assert.deepEqual(monitorMessage(0, 2), { type: "monitor", select: 0 });
  for (const bad of ["3", "-1", "1.5", "", "x", 3, -1, 1.5, null, true]) {
    assert.throws(() => monitorMessage(bad, 2), /no such monitor/, String(bad));
  }
});

test("the agent's monitors list is checked; a malformed one ends the session", () => {
  assert.deepEqual(checkMonitors(undefined), []);
  assert.deepEqual(checkMonitors(TWO), TWO);
  const bad = [
    "0,0,1,1",
    [[0, 0, 800]],
    [[0, 0, 0, 600]],
    [[-1, 0, 800, 600]],
    [[0, 0, 800, 600.5]],
    [[0, 0, "800", 600]],
    [[0, 0, 16385, 600]],
    Array(MAX_MONITORS + 1).fill([0, 0, 800, 600]),
  ];
  for (const value of bad) {
    assert.throws(() => checkMonitors(value), /malformed monitors/, JSON.stringify(value));
  }
  const info = { type: "info", os: "Linux", hostname: "pc", screen: [3200, 1080] };
  assert.equal(checkAgentControl({ ...info, monitors: TWO }).monitors, TWO);
  assert.throws(() => checkAgentControl({ ...info, monitors: [[0, 0, 0, 0]] }));
});

test("a monitors message from the agent: the new list and the one shown", () => {
  const three = [...TWO, [320, 120, 640, 240]];
  const msg = JSON.parse(JSON.stringify({ type: "monitors", monitors: three, selected: 3 }));
  const checked = checkMonitorsMessage(msg);
  assert.deepEqual(checked, { monitors: three, selected: 3 });
  // Copies: what the selector keeps cannot be changed through the parsed message.
  msg.monitors[0][2] = 1;
  assert.equal(checked.monitors[0][2], 1920);
  assert.deepEqual(monitorOptions(checked.monitors).at(-1), {
    value: 3,
    label: "Monitor 3 / モニター 3 (640 × 240)",
  });
  assert.deepEqual(checkMonitorsMessage({ type: "monitors", monitors: [], selected: 0 }), {
    monitors: [],
    selected: 0,
  });
  // The list follows the agent: a choice is checked against the newest one.
  assert.deepEqual(monitorMessage("3", checked.monitors.length), { type: "monitor", select: 3 });
});

test("a malformed or hostile monitors message ends the session", () => {
  const good = { type: "monitors", monitors: TWO, selected: 1 };
  const bad = [
    { type: "monitors", monitors: TWO },
    { type: "monitors", selected: 0 },
    { ...good, selected: 3 },
    { ...good, selected: -1 },
    { ...good, selected: 1.5 },
    { ...good, selected: "1" },
    { ...good, selected: true },
    { ...good, selected: null },
    { ...good, selected: 1e999 },
    { ...good, monitors: "<img src=x onerror=alert(1)>" },
    { ...good, monitors: [["0", 0, 800, 600], [0, 0, 800, 600]] },
    { ...good, monitors: [[0, 0, 800, 600, 5], [0, 0, 800, 600]] },
    { ...good, monitors: { length: 2, 0: [0, 0, 1, 1], 1: [0, 0, 1, 1] } },
    { ...good, monitors: Array(MAX_MONITORS + 1).fill([0, 0, 800, 600]), selected: 0 },
    { ...good, label: "Monitor 1" },
    JSON.parse('{"type":"monitors","monitors":[],"selected":0,"__proto__":{"x":1}}'),
  ];
  for (const msg of bad) {
    assert.throws(() => checkMonitorsMessage(msg), /malformed monitors/, JSON.stringify(msg));
  }
});

test("the operator is told why the monitor shown changed, in both languages", () => {
  const three = [...TWO, [320, 120, 640, 240]];
  // Nothing changed for the operator: nothing to say.
  assert.equal(monitorNotice(TWO, 2, TWO, 2), "");
  assert.equal(monitorNotice(TWO, 0, TWO, 0), "");
  // The monitor shown was unplugged: the agent shows all, and says so.
  const gone = monitorNotice(three, 2, [TWO[0], three[2]], 0);
  assert.match(gone, /^Monitor 2 is not connected any more: showing all monitors\. \/ /);
  assert.match(gone, /モニター 2 が接続されていないため/);
  // One plugged in while monitor 2 is shown: it still is.
  const added = monitorNotice(TWO, 2, three, 2);
  assert.match(added, /^The customer's monitors changed: 3 connected, showing monitor 2\. \/ /);
  assert.match(added, /（3 台）。モニター 2 を表示しています/);
  // Renumbered: monitor 2 became monitor 1 and is still the one shown.
  assert.match(monitorNotice(TWO, 2, [TWO[1]], 1), /1 connected, showing monitor 1\./);
  assert.match(monitorNotice(TWO, 0, [], 0), /^The customer's monitors changed\. \/ /);
  // A choice that crossed a change: the list is the one the console has already.
  const refused = monitorNotice(TWO, 2, TWO, 0);
  assert.match(refused, /^Monitor 2 could not be shown: showing all monitors\. \/ /);
  assert.match(refused, /モニター 2 を表示できませんでした。すべてのモニターを表示しています。$/);
  for (const text of [gone, added, refused]) assert.match(text, JAPANESE);
  // Asked for monitor 2 while all were shown, and a monitor was plugged in before the
  // agent read the request: monitor 2 is still there, so it is not "not connected".
  assert.match(monitorNotice(TWO, 2, three, 0), /^The customer's monitors changed: 3 connected, showing all monitors\./);
  // Asked for monitor 3 as it was unplugged: first the list (monitor 3 is gone), then the
  // agent's answer to the request, which says nothing new.
  assert.match(monitorNotice(three, 3, TWO, 0), /^Monitor 3 is not connected any more/);
  assert.equal(monitorNotice(TWO, 0, TWO, 0), "");
});

