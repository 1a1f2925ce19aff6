// Xapi.Cqrs console: vanilla JavaScript, no build step, nothing fetched from outside this service.
// Pages: #/ (the pool) and #/vm/<id> (a VM). Live updates come from GET /api/events/stream, read with fetch
// (so the token travels in the Authorization header, not in the URL).
"use strict";

const TOKEN_KEY = "xapi.token";
const view = () => document.getElementById("view");
let token = sessionStorage.getItem(TOKEN_KEY);
let page = null;          // { name, refresh(event) }
let stream = null;        // AbortController of the event stream
let lastSeq = null;

// ---- DOM helpers (no innerHTML with data: everything is text) ----
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") {
      // Through the CSSOM: the Content-Security-Policy (style-src 'self') refuses style attributes.
      for (const decl of String(v).split(";")) {
        const at = decl.indexOf(":");
        if (at > 0) el.style.setProperty(decl.slice(0, at).trim(), decl.slice(at + 1).trim());
      }
    }
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const gib = b => (b / 1073741824).toFixed(b >= 10 * 1073741824 ? 0 : 1) + " GiB";
const mib = b => Math.round(b / 1048576) + " MiB";
const when = iso => iso ? new Date(iso).toLocaleString() : "—";
const shortId = id => id ? String(id).slice(0, 8) : "—";

function toast(message) {
  const t = document.getElementById("toast");
  t.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ""; }, 8000);
}

// ---- API ----
class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.code ? `${problem.code} [${(problem.params || []).join("; ")}]` : `HTTP ${status}`);
    this.status = status; this.problem = problem || {};
  }
}

async function api(method, path, body, signingIn = false) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // Reads are never answered from the browser's cache: a record must be the service's now.
  const res = await fetch(path, { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (res.status === 401 && !signingIn) { signOut("The token is not accepted: sign in again."); throw new ApiError(401, json); }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

// ---- sign in ----
function signInPage(message) {
  stopStream();
  document.getElementById("signout").hidden = true;
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true,
    "aria-describedby": "token-help" });
  const error = h("p", { id: "signin-error", class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "signin", onsubmit: async e => {
    e.preventDefault();
    token = input.value.trim();
    try {
      await api("GET", "/api/hosts", undefined, true);
      sessionStorage.setItem(TOKEN_KEY, token);
      route();
    } catch (err) {
      error.textContent = err.status === 401 ? "That token is not known." : "Could not sign in: " + err.message;
      token = null;
    }
  } },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Token"),
    input,
    h("p", { id: "token-help", class: "muted" }, "A bearer token: the admin token (", h("code", {}, ".data/admin.token"), ") or one from POST /api/admin/tokens. It is kept for this tab only."),
    error,
    h("button", { type: "submit" }, "Sign in"));
  view().replaceChildren(form);
  input.focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  signInPage(message);
}

// ---- live updates ----
function stopStream() {
  if (stream) stream.abort();
  stream = null;
  setLive(false);
}

function setLive(on) {
  const el = document.getElementById("live");
  el.textContent = on ? "live" : "offline";
  el.classList.toggle("on", on);
}

async function followEvents() {
  if (stream || !token) return;
  const controller = new AbortController();
  stream = controller;
  while (!controller.signal.aborted) {
    try {
      const query = lastSeq === null ? "" : "?after=" + lastSeq;
      const res = await fetch("/api/events/stream" + query, { headers: { Authorization: "Bearer " + token }, signal: controller.signal });
      if (!res.ok) throw new Error("HTTP " + res.status);
      setLive(true);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
          if (!data) continue;
          const event = JSON.parse(data);
          lastSeq = event.seq;
          if (page && page.refresh) page.refresh(event);
        }
      }
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    setLive(false);
    await new Promise(r => setTimeout(r, 2000)); // reconnect, resuming after the last event seen
  }
}

// A page's refresh, at most once per 250 ms however many events arrive.
function debounced(fn, ms = 250) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

// ---- the pool ----
async function poolPage() {
  const root = h("div", {}, h("h1", {}, "Pool"));
  const hostsSection = h("section", { "aria-labelledby": "hosts-h" }, h("h2", { id: "hosts-h" }, "Hosts"));
  const vmsSection = h("section", { "aria-labelledby": "vms-h" }, h("h2", { id: "vms-h" }, "VMs by power state"));
  const opsSection = h("section", { "aria-labelledby": "ops-h" }, h("h2", { id: "ops-h" }, "Open operations"));
  root.append(hostsSection, vmsSection, opsSection);
  view().replaceChildren(root);

  async function render() {
    const [hosts, vms, ops] = await Promise.all([api("GET", "/api/hosts"), api("GET", "/api/vms"), api("GET", "/api/admin/operations")]);
    const byId = Object.fromEntries(vms.map(v => [v.id, v]));
    const charge = v => v ? v.memoryDynamicMin + v.memoryOverhead : 0;
    hostsSection.replaceChildren(hostsSection.firstChild, h("table", { id: "hosts" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Host"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "CPUs"),
        h("th", { scope: "col" }, "Memory"), h("th", { scope: "col" }, "VMs"))),
      h("tbody", {}, hosts.map(host => {
        const total = host.memoryTotal;
        const used = Math.max(0, total - host.memoryOverhead - host.memoryFree);
        const scheduled = Math.min(used, host.scheduledVms.reduce((s, id) => s + charge(byId[id]), 0));
        const resident = Math.max(0, used - scheduled);
        const pct = b => (100 * b / total).toFixed(2) + "%";
        const label = `${host.nameLabel}: ${gib(total)} total, ${gib(host.memoryOverhead)} host overhead, ${gib(resident)} used by resident VMs, ` +
          `${gib(scheduled)} reserved by scheduled VMs, ${gib(host.memoryFree)} free`;
        return h("tr", { "data-host": host.id },
          h("th", { scope: "row" }, host.nameLabel, h("div", { class: "muted mono" }, shortId(host.id))),
          h("td", {}, host.enabled ? "enabled" : "disabled", ", ", host.live ? "live" : "not live"),
          h("td", {}, host.cpuCount),
          h("td", {},
            h("div", { class: "bar", role: "img", "aria-label": label, title: label },
              h("span", { class: "overhead", style: `width:${pct(host.memoryOverhead)}` }),
              h("span", { class: "resident", style: `width:${pct(resident)}` }),
              h("span", { class: "scheduled", style: `width:${pct(scheduled)}` })),
            h("div", { class: "legend" },
              h("span", {}, h("i", { style: "background:var(--resident)" }), "resident ", gib(resident)),
              h("span", {}, h("i", { style: "background:var(--scheduled)" }), "scheduled ", gib(scheduled)),
              h("span", {}, h("i", { style: "background:var(--overhead)" }), "host ", gib(host.memoryOverhead)),
              h("span", {}, h("i", { style: "background:var(--free)" }), "free ", gib(host.memoryFree)),
              h("span", {}, "of ", gib(total)))),
          h("td", {}, `${host.residentVms.length} resident`, host.scheduledVms.length ? `, ${host.scheduledVms.length} scheduled` : ""));
      }))));

    const states = ["Running", "Paused", "Suspended", "Halted"];
    const groups = {};
    for (const v of vms) (groups[v.powerState] ||= []).push(v);
    vmsSection.replaceChildren(vmsSection.firstChild, h("div", { class: "groups" },
      [...states, ...Object.keys(groups).filter(s => !states.includes(s))].filter(s => groups[s]).map(state =>
        h("div", { class: "group", "data-state": state },
          h("h3", {}, state, " ", h("span", { class: "badge" }, groups[state].length)),
          h("ul", {}, groups[state].sort((a, b) => a.nameLabel.localeCompare(b.nameLabel)).map(v =>
            h("li", {}, h("a", { href: "#/vm/" + v.id }, v.nameLabel), Object.keys(v.currentOperations).length ? h("span", { class: "muted" }, " (" + Object.values(v.currentOperations).join(", ") + ")") : "")))))));

    opsSection.replaceChildren(opsSection.firstChild, ops.length === 0 ? h("p", { class: "muted" }, "None.") : h("table", { id: "operations" },
      h("thead", {}, h("tr", {}, ["Class", "Object", "Operation", "Task", "Age"].map(c => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ops.map(o => h("tr", {},
        h("td", {}, o.class),
        h("td", {}, o.class === "VM" ? h("a", { href: "#/vm/" + o.id }, byId[o.id] ? byId[o.id].nameLabel : shortId(o.id)) : h("span", { class: "mono" }, shortId(o.id))),
        h("td", {}, o.op), h("td", { class: "mono" }, shortId(o.taskId)), h("td", {}, o.ageSeconds.toFixed(1) + " s"))))));
  }

  await render();
  return { name: "pool", refresh: debounced(() => render().catch(e => toast(e.message))) };
}

// ---- a VM ----
const ACTIONS = [
  { op: "start", label: "Start", path: "start" },
  { op: "start_on", label: "Start on…", path: "start-on" },
  { op: "clean_shutdown", label: "Shut down", path: "clean-shutdown" },
  { op: "hard_shutdown", label: "Force shutdown", path: "hard-shutdown", danger: true },
  { op: "clean_reboot", label: "Reboot", path: "clean-reboot" },
  { op: "hard_reboot", label: "Force reboot", path: "hard-reboot", danger: true },
  { op: "pause", label: "Pause", path: "pause" },
  { op: "unpause", label: "Unpause", path: "unpause" },
  { op: "destroy", label: "Destroy", path: "destroy", danger: true },
];

function recordList(vm, hostsById) {
  const host = id => id ? (hostsById[id] ? hostsById[id].nameLabel : shortId(id)) : "—";
  const rows = [
    ["Power state", h("span", { class: "badge " + vm.powerState, "data-power-state": vm.powerState }, vm.powerState)],
    ["Resident on", host(vm.residentOn)], ["Scheduled on", host(vm.scheduledToBeResidentOn)], ["Domid", vm.domid],
    ["vCPUs", `${vm.vcpusAtStartup} of ${vm.vcpusMax}`],
    ["Memory", `static ${mib(vm.memoryStaticMin)}–${mib(vm.memoryStaticMax)}, dynamic ${mib(vm.memoryDynamicMin)}–${mib(vm.memoryDynamicMax)}, overhead ${mib(vm.memoryOverhead)}`],
    ["Domain type", vm.domainType],
    ["Current operations", Object.values(vm.currentOperations || {}).join(", ") || "none"],
    ["Version", vm.version], ["Id", h("span", { class: "mono" }, vm.id)],
  ];
  return h("dl", { class: "record" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

async function vmPage(id) {
  const title = h("h1", {}, "VM");
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Actions allowed now" });
  const task = h("div", { class: "task", id: "task", role: "status", "aria-live": "polite", hidden: true });
  const record = h("div", { id: "record" });
  const devices = h("div", { id: "devices" });
  const slider = h("input", { id: "asof", type: "range", min: 0, max: 0, value: 0, step: 1 });
  const sliderText = h("output", { for: "asof", id: "asof-text" });
  const asOf = h("div", { id: "asof-record" });
  const timeline = h("div", { class: "timeline", tabindex: 0, "aria-label": "Events of this VM" });
  const explain = h("div", { id: "explain" });
  view().replaceChildren(h("div", {},
    h("p", {}, h("a", { href: "#/" }, "← Pool")), title,
    h("section", { "aria-labelledby": "actions-h" }, h("h2", { id: "actions-h" }, "Actions"), actions, task),
    h("div", { class: "cols" },
      h("section", { "aria-labelledby": "record-h" }, h("h2", { id: "record-h" }, "Record"), record),
      h("section", { "aria-labelledby": "devices-h" }, h("h2", { id: "devices-h" }, "Devices"), devices)),
    h("section", { "aria-labelledby": "timeline-h" }, h("h2", { id: "timeline-h" }, "Timeline"),
      h("div", { class: "cols" },
        h("div", {}, h("div", { class: "slider" }, h("label", { for: "asof" }, "As of"), slider, sliderText), h("h3", {}, "The record then"), asOf),
        timeline)),
    h("section", { "aria-labelledby": "explain-h" }, h("h2", { id: "explain-h" }, "How each start was decided"), explain)));

  let vm = null, hosts = [], history = [], busy = false, following = false;

  async function renderVm(minVersion) {
    // After an action, at least the version it produced (the service waits, bounded, until its read model has it).
    [vm, hosts] = await Promise.all([api("GET", `/api/vms/${id}${minVersion ? "?minVersion=" + minVersion : ""}`), api("GET", "/api/hosts")]);
    const hostsById = Object.fromEntries(hosts.map(x => [x.id, x]));
    title.replaceChildren(vm.nameLabel, " ", h("span", { class: "badge " + vm.powerState }, vm.powerState));
    document.title = `${vm.nameLabel} — Xapi.Cqrs`;
    record.replaceChildren(recordList(vm, hostsById));
    renderActions();
    const [vbds, vifs] = await Promise.all([Promise.all(vm.vbds.map(v => api("GET", `/api/vbds/${v}`))), Promise.all(vm.vifs.map(v => api("GET", `/api/vifs/${v}`)))]);
    devices.replaceChildren(
      h("h3", {}, "Disks (VBDs)"),
      vbds.length === 0 ? h("p", { class: "muted" }, "None.") : h("table", {}, h("thead", {}, h("tr", {}, ["Userdevice", "Device", "Type", "Mode", "Attached"].map(c => h("th", { scope: "col" }, c)))),
        h("tbody", {}, vbds.map(b => h("tr", {}, h("td", {}, b.userdevice), h("td", {}, b.device || "—"), h("td", {}, b.type), h("td", {}, b.mode), h("td", {}, b.currentlyAttached ? "yes" : "no"))))),
      h("h3", {}, "Network interfaces (VIFs)"),
      vifs.length === 0 ? h("p", { class: "muted" }, "None.") : h("table", {}, h("thead", {}, h("tr", {}, ["Device", "MAC", "MTU", "Attached"].map(c => h("th", { scope: "col" }, c)))),
        h("tbody", {}, vifs.map(f => h("tr", {}, h("td", {}, f.device), h("td", { class: "mono" }, f.mac), h("td", {}, f.mtu), h("td", {}, f.currentlyAttached ? "yes" : "no"))))));
  }

  function renderActions() {
    const allowed = new Set(vm.allowedOperations);
    const buttons = ACTIONS.filter(a => allowed.has(a.op)).map(a => {
      if (a.op === "start_on") {
        const select = h("select", { id: "start-on-host", "aria-label": "Host to start on" },
          hosts.filter(x => x.enabled).map(x => h("option", { value: x.id }, x.nameLabel)));
        return h("span", { class: "actions" }, select,
          h("button", { type: "button", class: "secondary", "data-op": a.op, disabled: busy, onclick: () => run(a, { host: select.value }) }, a.label));
      }

      return h("button", { type: "button", class: a.danger ? "danger" : "", "data-op": a.op, disabled: busy, onclick: () => run(a) }, a.label);
    });
    actions.replaceChildren(...(buttons.length ? buttons : [h("span", { class: "muted" }, "No action is allowed now.")]));
  }

  async function run(action, body) {
    if (action.op === "destroy" && !action.confirmed) {
      if (actions.querySelector("[data-confirm]")) return;
      // Two steps instead of a blocking confirm(): the second button destroys.
      actions.append(h("button", { type: "button", class: "danger", "data-confirm": "destroy", onclick: () => run({ ...action, confirmed: true }) }, "Confirm destroy"));
      return;
    }

    busy = true; renderActions();
    const before = vm ? vm.version : 0;
    try {
      if (action.op === "destroy") {
        await api("POST", `/api/vms/${id}/destroy`, {});
        toast(""); location.hash = "#/";
        return;
      }

      const accepted = await api("POST", `/api/vms/${id}/${action.path}?async=true`, body || {});
      await followTask(accepted.taskId, action.label);
    } catch (err) {
      showTask(action.label, null, err.message);
    } finally {
      busy = false;
      // Still on screen (not whether the route has finished its first render): show what the action did.
      if (record.isConnected) await renderAll(before + 1).catch(err => console.error("refresh failed", err));
    }
  }

  function showTask(label, t, error) {
    task.hidden = false;
    const pct = t ? Math.round(100 * t.progress) : 0;
    task.replaceChildren(
      h("strong", {}, label), " ",
      h("progress", { id: "task-progress", max: 100, value: pct, "aria-label": `${label} progress` }), " ",
      h("span", { id: "task-status", "data-status": t ? t.status : "failure" }, t ? `${t.status} ${pct}%${t.step ? " — " + t.step : ""}` : ""),
      (error || (t && t.errorInfo && t.errorInfo.length)) ? h("p", { class: "error" }, error || t.errorInfo.join(" ")) : "");
  }

  async function followTask(taskId, label) {
    // Long-poll: each read waits (server-side, up to 5 s) for the task's next version.
    let t = await api("GET", `/api/tasks/${taskId}`);
    showTask(label, t);
    while (t.status === "pending") {
      t = await api("GET", `/api/tasks/${taskId}?minVersion=${t.version + 1}`);
      showTask(label, t);
    }
  }

  async function renderHistory() {
    const entries = await api("GET", `/api/vms/${id}/history?limit=10000`);
    const atEnd = Number(slider.value) >= Number(slider.max);
    const grew = entries.length !== history.length;
    history = entries;
    slider.max = Math.max(0, history.length - 1);
    if (atEnd || !grew) slider.value = atEnd ? slider.max : slider.value;
    timeline.replaceChildren(h("ol", {}, history.map((e, i) => h("li", { "data-seq": e.seq, value: i + 1 },
      h("time", { datetime: e.at }, new Date(e.at).toLocaleTimeString()), " ", h("strong", {}, e.type), " ",
      h("span", { class: "muted" }, e.actor || "")))));
    await showAsOf();
  }

  let asOfRequest = 0;
  async function showAsOf() {
    if (history.length === 0) { sliderText.textContent = "no events"; return; }
    const i = Number(slider.value);
    const e = history[i];
    const text = `event ${i + 1} of ${history.length}: ${e.type} at ${when(e.at)}`;
    sliderText.textContent = text;
    slider.setAttribute("aria-valuetext", text);
    timeline.querySelectorAll("li").forEach((li, n) => {
      li.classList.toggle("current", n === i);
      if (n === i) li.scrollIntoView({ block: "nearest" });
    });
    const mine = ++asOfRequest;
    try {
      const then = await api("GET", `/api/vms/${id}/history?at=${encodeURIComponent(e.at)}`);
      if (mine !== asOfRequest) return; // a later move of the slider answers instead
      asOf.replaceChildren(recordList(then, Object.fromEntries(hosts.map(x => [x.id, x]))));
      asOf.dataset.at = e.at;
    } catch (err) {
      if (mine === asOfRequest) asOf.replaceChildren(h("p", { class: "error" }, "As-of read failed: " + err.message));
    }
  }
  slider.addEventListener("input", debounced(() => showAsOf(), 120));

  async function renderExplain() {
    let story;
    try {
      story = await api("GET", `/api/vms/${id}/history/explain`);
    } catch (err) {
      explain.replaceChildren(h("p", { class: "muted" }, err.status === 404 && !(err.problem && err.problem.code === "HANDLE_INVALID" && err.problem.params[0] === "VM")
        ? "This service does not explain starts yet." : "Could not read the explanation: " + err.message));
      return;
    }

    const starts = story.starts || [];
    explain.replaceChildren(...(starts.length === 0 ? [h("p", { class: "muted" }, "This VM has not been started yet.")] : starts.map((s, n) =>
      h("article", { class: "story", "data-task": s.taskId },
        h("h3", {}, `Start ${n + 1}: ${s.operation} — ${s.outcome ? s.outcome.status : "pending"}`),
        h("p", {}, `Asked by ${s.actor ? s.actor.subject : "?"}${s.actor && s.actor.role ? " (" + s.actor.role + ")" : ""} at ${when(s.requestedAt)}`,
          s.requestedHost ? `, on host ${s.requestedHost}` : "", s.paused ? ", paused" : "",
          `. Needs ${mib(s.memoryRequired || 0)}; category ${s.category || "—"}; seed ${s.seed}.`),
        (s.candidates || []).length ? h("table", {}, h("thead", {}, h("tr", {}, ["Host", "Category", "Value", "Refused"].map(c => h("th", { scope: "col" }, c)))),
          h("tbody", {}, s.candidates.map(c => h("tr", {},
            h("td", {}, c.nameLabel || shortId(c.host), c.host === s.chosenHost ? h("strong", {}, " (chosen)") : ""),
            h("td", {}, c.category), h("td", {}, c.value === null || c.value === undefined ? "—" : gib(c.value)),
            h("td", {}, c.refused ? `${c.refused.code} [${(c.refused.params || []).join("; ")}]` : "—"))))) : "",
        (s.steps || []).length ? h("p", {}, "Host steps: ", s.steps.map(st => `${st.type} ${st.durationMs === null || st.durationMs === undefined ? "" : st.durationMs.toFixed(1) + " ms"}`).join(" → ")) : "",
        s.outcome ? h("p", {}, `Outcome: ${s.outcome.status}${s.outcome.code ? " " + s.outcome.code + " [" + (s.outcome.params || []).join("; ") + "]" : ""} at ${when(s.outcome.at)}.`) : "",
        s.replay ? h("p", {}, s.replay.reproduced ? "Replaying the draw today chooses the same host." : `Replaying the draw today differs: ${s.replay.note || ""}`) : ""))));
  }

  // Renders run one after the other: an older render finishing late never overwrites a newer one.
  let renders = Promise.resolve();
  function renderAll(minVersion) {
    const next = renders.then(async () => {
      await renderVm(minVersion);
      await Promise.all([renderHistory(), renderExplain()]);
    });
    renders = next.catch(() => {});
    return next;
  }

  const refresh = debounced(async () => {
    try {
      await renderAll();
    } catch (err) {
      if (err.status === 404) { toast("The VM is gone."); location.hash = "#/"; }
      else console.error("refresh failed", err);
    }
  });
  const ours = e => e.stream === id || (vm && (vm.vbds.includes(e.stream) || vm.vifs.includes(e.stream))) || JSON.stringify(e.data).includes(id);
  const self = { name: "vm", vmId: id, refresh: e => { if (!e || ours(e)) refresh(); } };
  // The page follows the live events from its first render on: its buttons can be used before the history has loaded.
  page = self;
  await renderAll();
  return self;
}

// ---- routing ----
async function route() {
  if (!token) { signInPage(); return; }
  document.getElementById("signout").hidden = false;
  const hash = location.hash || "#/";
  const vmMatch = /^#\/vm\/([0-9a-f-]{36})$/i.exec(hash);
  page = null;
  try {
    page = vmMatch ? await vmPage(vmMatch[1]) : await poolPage();
    if (!vmMatch) document.title = "Pool — Xapi.Cqrs";
  } catch (err) {
    if (err.status !== 401) view().replaceChildren(h("p", { class: "error", role: "alert" }, "Could not load this page: " + err.message));
  }
  followEvents();
}

document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", () => { route(); view().focus(); });
route();
