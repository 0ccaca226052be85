// The residents' callback page: posts the form to /api/callbacks and shows the answer (and a cancel button).
const form = document.getElementById("request");
const result = document.getElementById("result");

function moment(value) {
  // datetime-local has no zone: it is the resident's local time, sent with their offset.
  return value ? new Date(value).toISOString() : undefined;
}

function show(kind, html) {
  result.className = kind;
  result.innerHTML = html;
  result.hidden = false;
  result.focus();
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function explain(body) {
  if (typeof body.detail === "string") return body.detail;
  return Object.entries(body.detail || {}).map(([field, why]) => `${field}: ${why}`).join("; ");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const payload = { phone: form.phone.value };
  for (const name of ["not_before", "not_after"]) {
    const value = moment(form[name].value);
    if (value) payload[name] = value;
  }
  if (form.topic.value.trim()) payload.topic = form.topic.value.trim();
  const response = await fetch("/api/callbacks", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
  });
  const body = await response.json();
  if (!response.ok) {
    show("error", `Не удалось принять заявку: ${escape(explain(body))}`);
    return;
  }
  const when = new Date(body.estimated_call_at * 1000).toLocaleString("ru-RU", { dateStyle: "long", timeStyle: "short" });
  const again = response.status === 200 ? "У этого номера уже есть заявка. " : "";
  show("ok", `${again}Заявка принята. Номер ${escape(body.phone)}, вы ${escape(body.position)}-й в очереди. ` +
    `Ожидайте звонка примерно ${escape(when)}.` +
    (body.cancel_token ? ` <button type="button" class="secondary" id="cancel">Отменить заявку</button>` : ""));
  const cancel = document.getElementById("cancel");
  if (cancel) {
    cancel.addEventListener("click", async () => {
      const answer = await fetch(`/api/callbacks/${encodeURIComponent(body.id)}/cancel`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: body.cancel_token }),
      });
      show(answer.ok ? "ok" : "error", answer.ok ? "Заявка отменена." : "Не удалось отменить заявку.");
    });
  }
});
