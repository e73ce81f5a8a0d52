// The counselor's page (templates/index.html); served as /static/page.js. No inline script:
// the page's Content-Security-Policy allows scripts from the service only.
"use strict";
const CONFIG = JSON.parse(document.getElementById("config").textContent);
const T = CONFIG.text;
const form = document.getElementById("case-form");
const pct = (p) => (100 * p).toFixed(1) + "%";
const pts = (d) => (d > 0 ? "+" : d < 0 ? "−" : "±") + Math.abs(100 * d).toFixed(1) + (CONFIG.lang === "zh" ? " 个百分点" : " pts");

function caseFromForm() {
  const body = {};
  for (const el of form.querySelectorAll("[name]")) {
    if (el.type === "checkbox") { body[el.name] = el.checked; continue; }
    const value = el.value.trim();
    if (value === "") continue;
    body[el.name] = el.dataset.kind === "bool" ? value === "true" : value;
  }
  return body;
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

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function render(answer) {
  document.getElementById("results-title").textContent = T.results;
  document.getElementById("note").textContent = answer.note;
  for (const [id, key] of [["h-approach", "approach"], ["h-estimate", "estimate"], ["h-interval", "interval"], ["h-vs", "vs_planned"], ["h-similar", "similar"], ["h-warning", "warning"]]) {
    document.getElementById(id).textContent = T[key];
  }
  const body = document.querySelector("#estimates tbody");
  body.innerHTML = "";
  for (const a of answer.approaches) {
    const tr = document.createElement("tr");
    tr.dataset.approach = a.approach;
    if (a.approach === answer.planned_approach) tr.className = "planned";
    cell(tr, a.label + (a.approach === answer.planned_approach ? T.planned : ""), "label");
    cell(tr, pct(a.p), "p");
    cell(tr, pct(a.low) + " – " + pct(a.high), "interval");
    const d = a.difference_from_planned;
    cell(tr, d === null ? "" : pts(d), "vs " + (d > 0 ? "pos" : d < 0 ? "neg" : ""));
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
    li.textContent = d.label + ": " + (d.change >= 0 ? T.raises : T.lowers) + " " + Math.abs(100 * d.change).toFixed(1) + " " + T.points;
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
  document.getElementById("meta").textContent = T.model + " " + answer.model_version + " · " + T.run + " " + answer.snapshot.run_id;
  document.getElementById("results").hidden = false;
  if (window.Plotly) {
    const rows = answer.approaches.slice().reverse();
    Plotly.react("chart", [{
      type: "bar", orientation: "h",
      y: rows.map((a) => a.label), x: rows.map((a) => a.p),
      marker: { color: rows.map((a) => a.approach === answer.planned_approach ? "#0b6e99" : (a.thin_data ? "#e0a96d" : "#7fb3d5")) },
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
  const headers = { "Content-Type": "application/json", "Accept-Language": CONFIG.lang };
  const tokenInput = document.getElementById("f-token");
  if (tokenInput) {
    if (tokenInput.value) sessionStorage.setItem("overdue-token", tokenInput.value);
    const token = tokenInput.value || sessionStorage.getItem("overdue-token");
    if (token) headers["Authorization"] = "Bearer " + token;
  }
  try {
    const response = await fetch("/api/v1/estimate?lang=" + CONFIG.lang, { method: "POST", headers, body: JSON.stringify(caseFromForm()) });
    const answer = await response.json();
    if (response.ok) render(answer);
    else if (response.status === 422) showErrors(answer.detail);
    else if (response.status === 429) document.getElementById("form-errors").textContent = T.busy;
    else if (response.status === 401) document.getElementById("form-errors").textContent = T.unauthorized;
    else document.getElementById("form-errors").textContent = T.failed;
  } catch (error) {
    document.getElementById("form-errors").textContent = T.failed;
  } finally {
    button.disabled = false;
  }
});
