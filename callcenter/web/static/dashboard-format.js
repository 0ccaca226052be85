// How the dashboard writes numbers, times, errors and the service's reasons for a person (pure functions).

// +74958709163 -> "+7 495 870-91-63"; other numbers are left as they came.
export function formatPhone(raw) {
  const text = String(raw ?? "");
  const digits = text.replace(/\D/g, "");
  const national = digits.length === 11 && (digits.startsWith("7") || digits.startsWith("8")) ? digits.slice(1) : null;
  if (!national || /[^\d\s()+-]/.test(text)) return text;
  return `+7 ${national.slice(0, 3)} ${national.slice(3, 6)}-${national.slice(6, 8)}-${national.slice(8)}`;
}

const LOCALES = { ru: "ru-RU", en: "en-GB" };

// Hours and minutes (no seconds), with the day when it is not today, in the hotline's time zone.
export function formatMoment(epochSeconds, lang, timeZone) {
  if (epochSeconds === null || epochSeconds === undefined) return "—";
  const when = new Date(epochSeconds * 1000);
  const day = (d) => d.toLocaleDateString("en-CA", { timeZone });
  const time = when.toLocaleTimeString(LOCALES[lang], { timeZone, hour: "2-digit", minute: "2-digit" });
  if (day(when) === day(new Date())) return time;
  return `${when.toLocaleDateString(LOCALES[lang], { timeZone, day: "numeric", month: "short" })}, ${time}`;
}

// "2026-11-10" -> "10 нояб. 2026 г." / "10 Nov 2026".
export function formatDate(isoDate, lang) {
  if (!isoDate) return "—";
  const when = new Date(`${String(isoDate).slice(0, 10)}T12:00:00Z`);
  if (Number.isNaN(when.getTime())) return String(isoDate);
  return when.toLocaleDateString(LOCALES[lang], { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" });
}

// 75 -> "1:15"; for timers that tick in place.
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const minutes = Math.floor(total / 60);
  return `${minutes}:${String(total % 60).padStart(2, "0")}`;
}

const ERRORS = {
  ru: {
    pbx_refused: "АТС не выполнила действие. Обновите страницу: возможно, состояние уже другое.",
    already_in_queue: "Вы уже в очереди.", not_in_queue: "Вы не в очереди.",
    pbx_unavailable: "Нет связи с АТС. Повторите через минуту.", no_phone: "У вашей учётной записи нет телефона в очереди: обратитесь к старшему смены.",
    store_unavailable: "Сервис на минуту недоступен. Повторите.", login_required: "Войдите снова.",
    forbidden: "Это действие вам недоступно.", csrf: "Сессия устарела: обновите страницу.",
    phone_invalid: "Проверьте номер телефона.", phone_not_allowed: "На этот номер горячая линия не звонит.",
    too_many_requests: "Слишком много заявок на этот номер сегодня.", not_found: "Не найдено: возможно, уже удалено.",
    conflict: "Уже изменено другим оператором: список обновлён.", invalid_field: "Проверьте введённые данные.",
    talking: "Сначала завершите текущий разговор.", network: "Нет связи с сервисом.",
    fallback: "Не получилось. Повторите или обратитесь к старшему смены.",
  },
  en: {
    pbx_refused: "The PBX refused. Reload: the state may have changed.", already_in_queue: "You are already in the queue.",
    not_in_queue: "You are not in the queue.", pbx_unavailable: "The PBX is unreachable. Try again in a minute.",
    no_phone: "Your account has no queue phone: ask a supervisor.", store_unavailable: "Unavailable for a moment. Retry.",
    login_required: "Log in again.", forbidden: "You may not do this.", csrf: "The session is stale: reload the page.",
    phone_invalid: "Check the phone number.", phone_not_allowed: "The hotline does not call this number.",
    too_many_requests: "Too many requests for this number today.", not_found: "Not found: it may be gone already.",
    conflict: "Someone changed it meanwhile: the list is reloaded.", invalid_field: "Check what you entered.",
    talking: "Finish the current call first.", network: "The service is unreachable.",
    fallback: "That did not work. Retry or ask a supervisor.",
  },
};

// A thrown API error as words for the reader: never the raw PBX text, English on a Russian page, or JSON.
export function errorText(error, lang) {
  const words = ERRORS[lang] ?? ERRORS.ru;
  const code = error?.data?.error;
  const detail = String(error?.data?.detail ?? "");
  if (code === "pbx_refused" && /already there/i.test(detail)) return words.already_in_queue;
  if (code === "pbx_refused" && /not found/i.test(detail)) return words.not_in_queue;
  if (error?.status === 409 && !words[code]) return words.conflict;
  if (!error?.status) return words.network;
  return words[code] ?? words.fallback;
}

const REASONS = [
  [/^no answer/, { ru: "не ответил", en: "no answer" }],
  [/^busy/, { ru: "занято", en: "busy" }],
  [/^network congestion/, { ru: "перегрузка сети", en: "network congestion" }],
  [/^call could not be placed/, { ru: "не удалось позвонить", en: "call could not be placed" }],
  [/^no outcome from the PBX/, { ru: "АТС не сообщила итог", en: "no outcome from the PBX" }],
  [/^the place in the queue was lost/, { ru: "место в очереди потеряно до звонка", en: "place in the queue lost" }],
  [/^the operator hung up/, { ru: "оператор положил трубку до ответа", en: "operator hung up while ringing" }],
  [/^the resident hung up/, { ru: "житель положил трубку до ответа оператора", en: "resident hung up before an operator" }],
  [/^cancelled by the resident/, { ru: "отменён жителем", en: "cancelled by the resident" }],
  [/^cancelled by operator:(.+)/, { ru: "отменён оператором $1", en: "cancelled by operator $1" }],
  [/^cancelled by/, { ru: "отменён", en: "cancelled" }],
  [/^not reached before closing time/, { ru: "не дозвонились до закрытия", en: "not reached before closing" }],
  [/^the hotline is closed/, { ru: "линия закрыта в выбранное время", en: "the hotline is closed then" }],
  [/^the hotline has no working hours ahead/, { ru: "нет рабочих часов впереди", en: "no working hours ahead" }],
];

// The service's reason for a callback's state, in the reader's language ("busy after 3 attempts").
export function reasonText(reason, lang) {
  if (!reason) return "";
  const attempts = /after (\d+) attempts/.exec(reason);
  const suffix = attempts ? (lang === "ru" ? ` (попыток: ${attempts[1]})` : ` after ${attempts[1]} attempts`) : "";
  for (const [pattern, words] of REASONS) {
    const match = pattern.exec(reason);
    if (match) return words[lang].replace("$1", match[1] ?? "") + suffix;
  }
  return lang === "ru" ? "" : reason;
}
