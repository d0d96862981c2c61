/* Feature forms: show the fields of the chosen kind, and leave the others out of the post (disabled inputs are
   not sent), so a value typed before switching kind is not refused. The server validates everything. */
(function () {
  "use strict";
  const KIND_FIELDS = {limit: ["metric", "default_limit"], boolean: ["default_enabled"], value: ["default_value"]};
  const LINE_FIELDS = {limit: ["limit", "enforcement"], boolean: ["enabled"], value: ["value"]};

  function toggle(form, fieldsOf, kind) {
    const all = [].concat(...Object.values(fieldsOf));
    const wanted = fieldsOf[kind] || all;
    all.forEach((name) => {
      const label = form.querySelector("label[data-name=" + name + "]");
      if (!label || label.classList.contains("locked")) { return; }
      const show = wanted.indexOf(name) !== -1;
      label.hidden = !show;
      label.querySelectorAll("input, select, textarea").forEach((input) => { input.disabled = !show; });
    });
  }

  document.querySelectorAll("form[data-feature-form]").forEach((form) => {
    const kind = form.querySelector("[name=kind]");
    if (!kind) { return; }
    const update = () => toggle(form, KIND_FIELDS, kind.value);
    kind.addEventListener("change", update);
    update();
  });

  const kinds = document.getElementById("feature-kinds");
  document.querySelectorAll("form[data-plan-feature-form]").forEach((form) => {
    const feature = form.querySelector("[name=feature]");
    if (!feature || !kinds) { return; }
    const kindOf = JSON.parse(kinds.textContent);
    const update = () => toggle(form, LINE_FIELDS, kindOf[feature.value]);
    feature.addEventListener("change", update);
    update();
  });
})();
