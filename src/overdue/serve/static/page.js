// The counselor's page (templates/index.html); served as /static/page.js. No inline script:
// the page's Content-Security-Policy allows scripts from the service only.
"use strict";
const CONFIG = JSON.parse(document.getElementById("config").textContent);
const T = CONFIG.text;
const form = document.getElementById("case-form");
const pct = (p) => (100 * p).toFixed(1) + "%";
const CASE_KEY = "overdue-case";  // the form's values across a language switch (this tab only)
let lastShown = null;  // the case and answer on screen, for the before/after view
let shownRun = null;  // the run behind the results on screen, else the one when the page opened
let comparedWith = null;  // the values of the case the before/after view compares with
const barColour = (kind) => getComputedStyle(document.documentElement).getPropertyValue("--bar-" + kind).trim();
const pts = (d) => (d > 0 ? "+" : d < 0 ? "−" : "±") + Math.abs(100 * d).toFixed(1) + (CONFIG.lang === "zh" ? " 个百分点" : " pp");

function caseFrom(values) {
  const body = {};
  for (const el of form.querySelectorAll("[name]")) {
    if (!(el.name in values)) continue;
    if (el.type === "checkbox") { body[el.name] = Boolean(values[el.name]); continue; }
    const value = String(values[el.name]).trim();
    if (value === "") continue;
    body[el.name] = el.dataset.kind === "bool" ? value === "true" : value;
  }
  return body;
}

function requestHeaders() {
  const headers = { "Content-Type": "application/json", "Accept-Language": CONFIG.lang };
  const tokenInput = document.getElementById("f-token");
  if (tokenInput) {
    if (tokenInput.value) sessionStorage.setItem("overdue-token", tokenInput.value);
    const token = tokenInput.value || sessionStorage.getItem("overdue-token");
    if (token) headers["Authorization"] = "Bearer " + token;
  }
  return headers;
}

function postCase(values) {
  return fetch("/api/v1/estimate?lang=" + CONFIG.lang, { method: "POST", headers: requestHeaders(), body: JSON.stringify(caseFrom(values)) });
}

// the case the before/after view compared with, estimated again in this page's language
async function estimateOf(values) {
  try {
    const response = await postCase(values);
    return response.ok ? { values, answer: await response.json() } : null;
  } catch (error) {
    return null;
  }
}

function clearErrors() {
  document.getElementById("form-errors").textContent = "";
  for (const el of form.querySelectorAll(".error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

function showErrors(detail) {
  const list = document.createElement("ul");
  for (const item of detail || []) {
    const slot = document.getElementById("e-" + item.field);
    const input = document.getElementById("f-" + item.field);
    if (slot) slot.textContent = item.message;
    if (input) input.setAttribute("aria-invalid", "true");
    const li = document.createElement("li");
    li.textContent = (CONFIG.fields[item.field] || item.field) + ": " + item.message;
    list.appendChild(li);
  }
  const box = document.getElementById("form-errors");
  box.textContent = T.error;
  box.appendChild(list);
}

function formValues() {
  const values = {};
  for (const el of form.querySelectorAll("[name]")) values[el.name] = el.type === "checkbox" ? el.checked : el.value;
  return values;
}

function restoreForm() {
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(CASE_KEY) || "null"); } catch (error) { saved = null; }
  sessionStorage.removeItem(CASE_KEY);
  if (!saved || !saved.values) return null;
  for (const el of form.querySelectorAll("[name]")) {
    if (!(el.name in saved.values)) continue;
    if (el.type === "checkbox") el.checked = Boolean(saved.values[el.name]);
    else el.value = saved.values[el.name];
  }
  return saved;
}

function listItems(list, texts, cls) {
  list.innerHTML = "";
  for (const text of texts) {
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    list.appendChild(li);
  }
}

function renderRisks(risks) {
  const list = document.getElementById("risks");
  document.getElementById("risks-title").textContent = T.risks;
  list.innerHTML = "";
  for (const risk of risks) {
    const li = document.createElement("li");
    li.dataset.risk = risk.id;
    const p = document.createElement("p");
    p.textContent = risk.text;
    li.appendChild(p);
    const sources = document.createElement("p");
    sources.className = "sources";
    sources.textContent = T.sources;
    risk.sources.forEach((source, i) => {
      const a = document.createElement("a");
      a.href = source.url;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
      a.textContent = source.title;
      if (i) sources.appendChild(document.createTextNode(CONFIG.lang === "zh" ? "；" : "; "));
      sources.appendChild(a);
    });
    li.appendChild(sources);
    list.appendChild(li);
  }
  document.getElementById("risks-box").hidden = !risks.length;
}

function renderLimits(limits) {
  const banner = document.getElementById("simulated-banner");
  banner.hidden = !limits.simulated;
  banner.textContent = limits.simulated ? limits.text[0] : "";
  document.getElementById("limits-title").textContent = T.limits;
  listItems(document.getElementById("limits"), limits.simulated ? limits.text.slice(1) : limits.text);
}

function noticeSnapshot(key, run) {
  const notice = document.getElementById("snapshot-notice");
  notice.textContent = T[key].replace("{run}", run);
  notice.dataset.run = run;
  notice.hidden = false;
}

async function watchSnapshot() {
  try {
    const response = await fetch("/healthz", { cache: "no-store" });
    const health = await response.json();
    if (!health.run_id) return;
    if (shownRun === null) shownRun = health.run_id;
    else if (health.run_id !== shownRun) noticeSnapshot("snapshot_changed", health.run_id);
  } catch (error) { /* offline for a moment: look again at the next tick */ }
}

function renderAdvising(answer) {
  document.getElementById("budget-title").textContent = T.budget_title;
  const left = T.budget_left_text.replace("{left}", money(answer.budget.budget_left)).replace("{margin}", money(answer.budget.margin));
  listItems(document.getElementById("budget"), [left, ...answer.budget.texts]);
  document.getElementById("budget-box").classList.toggle("bad", answer.budget.nothing_left);
  const own = answer.own_plan;
  const ownBox = document.getElementById("own-plan");
  ownBox.hidden = !own;
  if (own) {
    document.getElementById("own-plan-text").textContent = T.own_title + (CONFIG.lang === "zh" ? "：" : ": ") + own.text;
    listItems(document.getElementById("own-plan-warnings"), own.warning_texts, own.affordable ? "ok" : "over");
  }
  document.getElementById("recommendation-title").textContent = T.recommendation_title;
  document.getElementById("recommendation").textContent = answer.recommendation.text;
  document.getElementById("plan-note").textContent = answer.plan_note;
  document.getElementById("kept-note").textContent = answer.kept_note;
  document.getElementById("what-if-title").textContent = T.what_if_title;
  const list = document.getElementById("what-if");
  list.innerHTML = "";
  for (const lever of answer.what_if) {
    const li = document.createElement("li");
    li.dataset.lever = lever.lever;
    const span = document.createElement("span");
    span.textContent = lever.text + " ";
    li.appendChild(span);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary try";
    button.textContent = T.try;
    button.addEventListener("click", () => tryLever(lever.changes));
    li.appendChild(button);
    list.appendChild(li);
  }
  if (!answer.what_if.length) listItems(list, [T.what_if_none]);
}

const money = (x) => Math.round(x).toLocaleString("en-US");

function tryLever(changes) {
  // the what-if: set the lever's fields on the form and estimate again; old and new side by side
  for (const [name, value] of Object.entries(changes)) {
    const el = document.getElementById("f-" + name);
    if (!el) continue;
    if (el.type === "checkbox") el.checked = Boolean(value);
    else el.value = String(value);
  }
  form.requestSubmit();
}

function renderCompare(before, after) {
  const box = document.getElementById("compare-box");
  const now = formValues();
  const changed = Object.keys(now).filter((name) => String(now[name]) !== String(before.values[name]));
  box.hidden = !changed.length;
  comparedWith = changed.length ? before.values : null;
  if (!changed.length) return;
  document.getElementById("compare-title").textContent = T.compare_title;
  document.getElementById("compare-changed").textContent = T.compare_changed.replace("{fields}", changed.map((name) => CONFIG.fields[name] || name).join(CONFIG.lang === "zh" ? "、" : ", "));
  for (const [id, key] of [["c-approach", "approach"], ["c-before", "before"], ["c-after", "after"], ["c-change", "change"]]) {
    document.getElementById(id).textContent = T[key];
  }
  const body = document.querySelector("#compare tbody");
  body.innerHTML = "";
  const old = Object.fromEntries(before.answer.approaches.map((a) => [a.approach, a]));
  for (const a of after.approaches) {
    const tr = document.createElement("tr");
    tr.dataset.approach = a.approach;
    const was = old[a.approach];
    cell(tr, a.label, "label");
    cell(tr, was ? pct(was.p) : "", "before");
    cell(tr, pct(a.p), "after");
    const d = was ? a.p - was.p : 0;
    cell(tr, was ? pts(d) : "", d > 0 ? "pos" : d < 0 ? "neg" : "");
    body.appendChild(tr);
  }
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

// what a printout must say of the case it is about: when, and the figures it rests on
const PRINTED_FIELDS = ["lender_type", "outstanding_balance", "monthly_payment_due", "days_overdue_at_contact", "collection_stage", "monthly_income", "monthly_essential_expenses", "approach"];

function printedCase() {
  const parts = [];
  for (const name of PRINTED_FIELDS) {
    const el = form.elements.namedItem(name);
    if (!el || el.value.trim() === "") continue;
    const shown = el.tagName === "SELECT" ? el.options[el.selectedIndex].text : el.value.trim();
    parts.push((CONFIG.fields[name] || name) + " " + shown);
  }
  const date = new Date().toLocaleString(CONFIG.lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "long", timeStyle: "short" });
  return T.print_case.replace("{date}", date) + parts.join(CONFIG.lang === "zh" ? "；" : "; ") + (CONFIG.lang === "zh" ? "。" : ".");
}

function render(answer) {
  document.getElementById("results-title").textContent = T.results;
  document.getElementById("print-case").textContent = printedCase();
  document.getElementById("note").textContent = answer.note;
  for (const [id, key] of [["h-approach", "approach"], ["h-estimate", "estimate"], ["h-interval", "interval"], ["h-vs", "vs_planned"], ["h-kept", "kept_column"], ["h-plan", "plan_column"], ["h-similar", "similar"], ["h-warning", "warning"]]) {
    document.getElementById(id).textContent = T[key];
  }
  const body = document.querySelector("#estimates tbody");
  body.innerHTML = "";
  const narrow = new Set((answer.interval_check ? answer.interval_check.narrow_approaches : []).map((n) => n.approach));
  for (const a of answer.approaches) {
    const tr = document.createElement("tr");
    tr.dataset.approach = a.approach;
    if (a.approach === answer.planned_approach) tr.className = "planned";
    cell(tr, a.label + (a.approach === answer.planned_approach ? T.planned : ""), "label");
    cell(tr, pct(a.p), "p");
    const range = cell(tr, pct(a.low) + " – " + pct(a.high), narrow.has(a.approach) ? "interval narrow" : "interval");
    if (narrow.has(a.approach)) {
      range.textContent += " ⚠";
      range.title = T.narrow_range;
    }
    const d = a.difference_from_planned;
    cell(tr, d === null ? "" : pts(d), "vs " + (d > 0 ? "pos" : d < 0 ? "neg" : ""));
    cell(tr, a.kept_12 ? pct(a.kept_12.p) + " (" + pct(a.kept_12.low) + " – " + pct(a.kept_12.high) + ")" : "", "kept");
    const plan = cell(tr, a.plan ? a.plan.text : "", "plan");
    if (a.plan) {
      const badge = document.createElement("span");
      badge.className = a.plan.affordable ? "ok" : "over";
      badge.textContent = " · " + (a.plan.affordable ? T.affordable : T.not_affordable);
      plan.appendChild(badge);
      plan.title = a.plan.warning_texts.join(" ");
    }
    cell(tr, String(a.similar_cases), "similar");
    cell(tr, a.thin_data ? T.thin : "", "thin");
    body.appendChild(tr);
  }
  const check = document.getElementById("interval-check");
  check.textContent = answer.interval_check ? answer.interval_check.text : "";
  check.hidden = !answer.interval_check;
  check.classList.toggle("narrow", Boolean(answer.interval_check && answer.interval_check.too_narrow));
  const drivers = document.getElementById("drivers");
  document.getElementById("drivers-title").textContent = T.drivers;
  drivers.innerHTML = "";
  for (const d of answer.drivers) {
    const li = document.createElement("li");
    li.dataset.driver = d.driver;
    li.textContent = d.label + ": " + (d.value ? d.value + " " : "") + (d.change >= 0 ? T.raises : T.lowers) + " " + Math.abs(100 * d.change).toFixed(1) + " " + T.points;
    drivers.appendChild(li);
  }
  const advice = document.getElementById("advice");
  document.getElementById("advice-title").textContent = T.advice;
  advice.innerHTML = "";
  for (const item of answer.advice) {
    const li = document.createElement("li");
    li.dataset.lever = item.lever;
    li.className = "kind-" + item.kind;
    li.textContent = item.text;
    advice.appendChild(li);
  }
  if (!answer.advice.length) {
    const li = document.createElement("li");
    li.textContent = T.no_advice;
    advice.appendChild(li);
  }
  renderAdvising(answer);
  renderRisks(answer.risks);
  renderLimits(answer.limits);
  const run = answer.snapshot.run_id;
  const notice = document.getElementById("snapshot-notice");
  if (shownRun !== null && run !== shownRun) noticeSnapshot("snapshot_newer", run);
  else if (notice.dataset.run !== run) notice.hidden = true;
  shownRun = run;
  document.getElementById("meta").textContent = T.model + " " + answer.model_version + " · " + T.run + " " + run;
  document.getElementById("results").hidden = false;
  if (window.Plotly) {
    const rows = answer.approaches.slice().reverse();
    Plotly.react("chart", [{
      type: "bar", orientation: "h",
      y: rows.map((a) => a.label), x: rows.map((a) => a.p),
      marker: { color: rows.map((a) => barColour(a.approach === answer.planned_approach ? "planned" : (a.thin_data ? "thin" : "other"))) },
      error_x: { type: "data", symmetric: false, array: rows.map((a) => a.high - a.p), arrayminus: rows.map((a) => a.p - a.low), color: "#1f2933" },
      hovertemplate: "%{y}: %{x:.1%}<extra></extra>",
    }], {
      margin: { l: 150, r: 20, t: 10, b: 40 },
      xaxis: { range: [0, 1], tickformat: ".0%", title: { text: T.chart_x } },
      yaxis: { automargin: true },
    }, { displayModeBar: false, responsive: true });
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    const response = await postCase(formValues());
    const answer = await response.json();
    if (response.ok) {
      const before = lastShown;
      render(answer);
      if (before) renderCompare(before, answer);
      lastShown = { values: formValues(), answer };
    }
    else if (response.status === 422) showErrors(answer.detail);
    else if (response.status === 429) document.getElementById("form-errors").textContent = T.busy;
    else if (response.status === 401) document.getElementById("form-errors").textContent = T.unauthorized;
    else if (response.status === 503 && Array.isArray(answer.detail))  // nothing to answer from: why
      document.getElementById("form-errors").textContent = answer.detail.map(problem => problem.message).join("; ");
    else document.getElementById("form-errors").textContent = T.failed;
  } catch (error) {
    document.getElementById("form-errors").textContent = T.failed;
  } finally {
    button.disabled = false;
  }
});

document.getElementById("lang-switch").addEventListener("click", () => {
  // the other language's page is rendered by the service; the case goes along in this tab
  const estimated = !document.getElementById("results").hidden;
  const before = estimated && !document.getElementById("compare-box").hidden ? comparedWith : null;
  sessionStorage.setItem(CASE_KEY, JSON.stringify({ values: formValues(), estimated, before }));
});

document.getElementById("print").addEventListener("click", () => window.print());

// the chart fits the printed page's width, then the screen's again
window.addEventListener("beforeprint", () => {
  if (window.Plotly && !document.getElementById("results").hidden) Plotly.relayout("chart", { width: 680, height: 280 });
});
window.addEventListener("afterprint", () => {
  if (window.Plotly && !document.getElementById("results").hidden) Plotly.relayout("chart", { width: null, height: null, autosize: true });
});

const restored = restoreForm();
if (restored && restored.estimated) {
  // with the before/after view that was on screen: its first case estimated again, then this one
  (restored.before ? estimateOf(restored.before) : Promise.resolve(null)).then((before) => {
    lastShown = before;
    form.requestSubmit();
  });
}
watchSnapshot();
setInterval(watchSnapshot, CONFIG.poll_ms);
