/* The charge form: show the chosen pricing model's fields, edit bands as rows, and price an example live.
   The example is computed as catalog/rating.py computes it (exact decimals, one half-up rounding to the
   currency's minor unit, then the cap; the minimum's true-up said apart). The server validates and
   prices everything again: this script only helps, and the form works without it. */
(function () {
  "use strict";
  const form = document.querySelector("form.charge-form");
  if (!form) { return; }
  const modelFields = JSON.parse(document.getElementById("model-fields").textContent);
  const bandColumns = JSON.parse(document.getElementById("band-columns").textContent);
  const places = parseInt(form.dataset.places, 10);
  const currency = form.dataset.currency;
  const select = form.querySelector("select[name=model]");
  const rowsBody = form.querySelector("[data-band-rows]");
  const output = form.querySelector("[data-price-example]");
  const unitsInput = form.querySelector("[data-example-units]");

  // --- exact decimals: {n: BigInt, s: scale}, value = n / 10^s (never negative here) ---
  function parse(text) {
    text = (text || "").trim();
    if (!/^(\d+\.?\d*|\.\d+)$/.test(text)) { return null; }
    const [whole, fraction = ""] = text.split(".");
    return {n: BigInt((whole || "0") + fraction), s: fraction.length};
  }
  const ZERO = {n: 0n, s: 0};
  function scaled(a, s) { return a.n * 10n ** BigInt(s - a.s); }
  function add(a, b) { const s = Math.max(a.s, b.s); return {n: scaled(a, s) + scaled(b, s), s: s}; }
  function sub(a, b) { const s = Math.max(a.s, b.s); return {n: scaled(a, s) - scaled(b, s), s: s}; }
  function mul(a, b) { return {n: a.n * b.n, s: a.s + b.s}; }
  function cmp(a, b) { const s = Math.max(a.s, b.s); const x = scaled(a, s), y = scaled(b, s); return x < y ? -1 : x > y ? 1 : 0; }
  function ceilDiv(a, b) {
    const s = Math.max(a.s, b.s); const x = scaled(a, s), y = scaled(b, s);
    return {n: x / y + (x % y ? 1n : 0n), s: 0};
  }
  function round(a, digits) { // half-up, as atlas.money.round_line
    if (a.s <= digits) { return {n: scaled(a, digits), s: digits}; }
    const divisor = 10n ** BigInt(a.s - digits);
    let n = a.n / divisor;
    if ((a.n % divisor) * 2n >= divisor) { n += 1n; }
    return {n: n, s: digits};
  }
  function grouped(digits) { return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function fixed(a) {
    if (!a.s) { return grouped(a.n.toString()); }
    const text = a.n.toString().padStart(a.s + 1, "0");
    return grouped(text.slice(0, -a.s)) + "." + text.slice(-a.s);
  }
  function plain(a) { // no trailing zeros, thousands grouped (catalog.views.plain)
    let n = a.n, s = a.s;
    while (s > 0 && n % 10n === 0n) { n /= 10n; s -= 1; }
    return fixed({n: n, s: s});
  }
  function money(a) { return fixed(round(a, places)) + " " + currency; }

  // --- reading the form ---
  function value(name) { const input = form.querySelector("[name=" + name + "]"); return input ? input.value : ""; }
  function rows() { return Array.from(rowsBody.querySelectorAll("[data-band-row]")); }
  function bands(columns) {
    const out = [];
    for (const row of rows()) {
      const cells = {};
      columns.forEach((name) => { cells[name] = row.querySelector("[name=band_" + name + "]").value.trim(); });
      if (!columns.some((name) => cells[name])) { continue; }
      const band = {up_to: cells.up_to ? parse(cells.up_to) : null};
      if (cells.up_to && !band.up_to) { return null; }
      if (columns.indexOf("unit_amount") !== -1 && !cells.unit_amount && !cells.flat_amount) { return null; }
      for (const name of columns.slice(1)) {
        band[name] = cells[name] ? parse(cells[name]) : ZERO;
        if (!band[name]) { return null; }
      }
      out.push(band);
    }
    // The rating engine's band rules: ascending up_to, only the last one open-ended.
    if (!out.length) { return null; }
    for (let i = 0; i < out.length; i += 1) {
      const last = i === out.length - 1;
      if (last !== (out[i].up_to === null)) { return null; }
      if (!last && (out[i].up_to.n <= 0n || (i && cmp(out[i].up_to, out[i - 1].up_to) <= 0))) { return null; }
    }
    return out;
  }
  function bandIndex(list, q) { // bisect_left over the finite up_to values: up_to is inclusive
    let k = 0;
    while (k < list.length - 1 && cmp(q, list[k].up_to) > 0) { k += 1; }
    return k;
  }

  // The unrounded amount for billable quantity q, per model (catalog/rating.py's compilers); null: cannot price.
  function exact(model, q) {
    if (model === "per_unit") { const price = parse(value("unit_amount")); return price && mul(q, price); }
    if (model === "flat") { const amount = parse(value("amount")); return amount && (q.n ? amount : ZERO); }
    if (model === "package") {
      const size = parse(value("package_size")), amount = parse(value("amount"));
      if (!size || !amount || !size.n) { return null; }
      return q.n ? mul(ceilDiv(q, size), amount) : ZERO;
    }
    if (model === "percentage") { const rate = parse(value("rate")); return rate && mul(q, rate); }
    if (model === "tiered" || model === "volume") {
      const list = bands(bandColumns[model]);
      if (!list) { return null; }
      const k = bandIndex(list, q);
      const lower = (i) => (i ? list[i - 1].up_to : ZERO);
      if (model === "volume") { return add(mul(q, list[k].unit_amount), list[k].flat_amount); }
      let total = ZERO;
      for (let i = 0; i < k; i += 1) {
        total = add(total, add(mul(sub(list[i].up_to, lower(i)), list[i].unit_amount), list[i].flat_amount));
      }
      return add(total, add(mul(sub(q, lower(k)), list[k].unit_amount), list[k].flat_amount));
    }
    if (model === "stairstep") {
      const list = bands(bandColumns.stairstep);
      if (!list) { return null; }
      if (!q.n) { return ZERO; }
      let total = ZERO;
      for (let i = 0; i <= bandIndex(list, q); i += 1) { total = add(total, list[i].amount); }
      return total;
    }
    return null;
  }

  function example() {
    const model = select.value;
    if (model === "matrix") { return "No example: a matrix charge is priced per group."; }
    const units = parse(unitsInput.value);
    const included = value("included_units").trim() ? parse(value("included_units")) : ZERO;
    const minimum = value("minimum_amount").trim() ? parse(value("minimum_amount")) : null;
    const maximum = value("maximum_amount").trim() ? parse(value("maximum_amount")) : null;
    if (!units || !included || (value("minimum_amount").trim() && !minimum) || (value("maximum_amount").trim() && !maximum)) {
      return "";
    }
    let q = sub(units, included);
    if (q.n < 0n) { q = ZERO; }
    const amount = exact(model, q);
    if (!amount) { return ""; }
    const subtotal = round(amount, places);
    let billed = subtotal;
    let text = plain(units) + " units cost ";
    if (maximum && cmp(subtotal, maximum) > 0) {
      billed = round(maximum, places);
      text += money(billed) + " (capped at " + money(maximum) + ")";
    } else {
      text += money(billed);
    }
    text += ".";
    if (minimum && cmp(billed, minimum) < 0) {
      text += " The minimum of " + money(minimum) + " adds " + money(sub(round(minimum, places), billed)) + ".";
    }
    return text;
  }

  // --- the page ---
  function showModel() {
    const wanted = modelFields[select.value] || [];
    form.querySelectorAll(".param").forEach((element) => { element.hidden = wanted.indexOf(element.dataset.param) === -1; });
    const columns = bandColumns[select.value] || [];
    form.querySelectorAll("[data-column]").forEach((cell) => { cell.hidden = columns.indexOf(cell.dataset.column) === -1; });
  }
  function renumber() {
    rows().forEach((row, index) => {
      row.querySelector(".band-number").textContent = String(index + 1);
      row.querySelector("[data-remove-band]").value = "remove-" + index;
    });
  }
  function update() { output.textContent = example(); }

  form.addEventListener("click", (event) => {
    const target = event.target;
    if (target.matches("[data-add-band]")) {
      event.preventDefault();
      const row = rows()[0].cloneNode(true);
      row.querySelectorAll("input").forEach((input) => { input.value = ""; });
      rowsBody.appendChild(row);
      renumber();
      row.querySelector("[name=band_up_to]").focus();
      update();
    } else if (target.matches("[data-remove-band]")) {
      event.preventDefault();
      const row = target.closest("[data-band-row]");
      if (rows().length > 1) { row.remove(); } else { row.querySelectorAll("input").forEach((input) => { input.value = ""; }); }
      renumber();
      update();
    }
  });
  form.addEventListener("input", update);
  select.addEventListener("change", () => { showModel(); update(); });
  showModel();
  update();
})();
