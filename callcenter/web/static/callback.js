// The residents' callback page: posts the form to /api/callbacks and shows the answer (and a cancel button).
const form = document.getElementById("request");
const result = document.getElementById("result");
// Cancel tokens this page was given (only in memory: never stored on a computer others may use). With one, a
// second request for the same number shows the resident their request again; without, the service says only
// that the number already has one.
const tokens = [];

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

// Why a number was refused, for people: the service's codes (and the reason for phone_not_allowed).
const NOT_ALLOWED = {
  foreign: "Горячая линия перезванивает только на российские номера. Этот номер зарубежный " +
    "(например, +7 7… — это номера Казахстана). Укажите российский мобильный или городской номер.",
  own_number: "Это номер самой горячей линии. Укажите свой номер телефона.",
  number_type: "На платные, бесплатные (8-800) и служебные номера горячая линия не перезванивает. " +
    "Укажите мобильный или городской номер.",
  prefix: "На номера этого региона горячая линия не перезванивает. Укажите другой номер.",
};
const REFUSED = {
  phone_invalid: "Проверьте номер телефона: например, 8 916 123-45-67 или +7 495 123-45-67.",
  too_many_requests: "Сегодня с этого номера или с этого устройства уже оставлено слишком много заявок. " +
    "Попробуйте завтра или позвоните на горячую линию.",
  window_reversed: "Время «не позже» должно быть позже времени «не раньше».",
  window_in_the_past: "Время «не позже» уже прошло.",
  window_too_far: "Время «не раньше» — не дальше чем через 30 дней.",
  no_working_hours: "В выбранное время горячая линия не работает (она открыта с 8:00 до 20:00 по московскому времени).",
};

function refusal(body) {
  if (body.error === "phone_not_allowed") return NOT_ALLOWED[body.reason] || NOT_ALLOWED.prefix;
  return REFUSED[body.error] || `Не удалось принять заявку: ${explain(body)}`;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const payload = { phone: form.phone.value };
  for (const name of ["not_before", "not_after"]) {
    const value = moment(form[name].value);
    if (value) payload[name] = value;
  }
  if (form.topic.value.trim()) payload.topic = form.topic.value.trim();
  if (tokens.length) payload.cancel_token = tokens[tokens.length - 1].token;
  const response = await fetch("/api/callbacks", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
  });
  const body = await response.json();
  if (!response.ok) {
    show("error", escape(refusal(body)));
    return;
  }
  if (body.existing && !body.id) {
    // Someone (perhaps this resident, earlier) already asked for this number: nothing more is told.
    show("ok", "На этот номер уже есть заявка на обратный звонок — оператор позвонит в порядке очереди. " +
      "Если заявку оставляли вы, ждите звонка; отменить её можно кнопкой, которая была показана при оформлении, " +
      "или позвонив на горячую линию.");
    return;
  }
  if (body.cancel_token) tokens.push({ id: body.id, token: body.cancel_token });
  const own = tokens.find((t) => t.id === body.id);
  const when = new Date(body.estimated_call_at * 1000).toLocaleString("ru-RU", { dateStyle: "long", timeStyle: "short" });
  const again = body.existing ? "Это ваша заявка, она уже принята. " : "Заявка принята. ";
  show("ok", `${again}Номер ${escape(body.phone)}, вы ${escape(body.position)}-й в очереди. ` +
    `Ожидайте звонка примерно ${escape(when)}.` +
    (own ? ` <button type="button" class="secondary" id="cancel">Отменить заявку</button>` : ""));
  const cancel = document.getElementById("cancel");
  if (cancel && own) {
    cancel.addEventListener("click", async () => {
      const answer = await fetch(`/api/callbacks/${encodeURIComponent(own.id)}/cancel`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: own.token }),
      });
      show(answer.ok ? "ok" : "error", answer.ok ? "Заявка отменена." : "Не удалось отменить заявку.");
    });
  }
});
