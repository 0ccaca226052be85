"""The printable day report: HTML with charts drawn as SVG by the server, readable without JavaScript."""

from __future__ import annotations

import math
from datetime import date, timedelta
from html import escape
from typing import Any

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 48, 28, 16
COLOURS = ("#0b4f9c", "#c0392b", "#1e7b34")


MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
          "ноября", "декабря")


def _fmt(value: Any, suffix: str = "") -> str:
    """A figure as a Russian reader writes it: a decimal comma, a dash for none."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",") + suffix
    return f"{value}{suffix}"


def russian_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year} г."


def _ticks(top: float) -> list[float]:
    """Five evenly spaced axis values from 0 to at least `top`, on round steps (1, 2, 2.5, 5 x 10^n)."""
    raw = max(top, 1e-9) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * n for n in range(5)]


def bar_chart(key: str, title: str, hours: list[int], series: list[tuple[str, list[float | None]]],
              target: float | None = None, unit: str = "") -> str:
    """Grouped bars per hour, optional horizontal target line; accessible (a title and a description).
    `key` names the chart's ids, so that no two charts on a page share one."""
    values = [v for _, data in series for v in data if v is not None]
    ticks = _ticks(max([*values, target or 0.0]))
    top = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    group = plot_w / max(1, len(hours))
    bar = group * 0.8 / max(1, len(series))
    parts = [f'<svg role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" aria-labelledby="chart-{key}">',
             f'<title id="chart-{key}">{escape(title)}</title>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" stroke="#333"/>']
    for index, value in enumerate(ticks):
        y = TOP + plot_h - plot_h * index / 4
        label = _fmt(value) if value != int(value) else str(int(value))
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                     f'{label}{escape(unit)}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" stroke="#ddd"/>')
    for index, hour in enumerate(hours):
        x0 = LEFT + group * index + group * 0.1
        parts.append(f'<text x="{x0 + group * 0.4:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                     f'font-size="11">{hour:02d}</text>')
        for number, (name, data) in enumerate(series):
            point = data[index]
            if point is None:
                continue
            value = float(point)
            height = plot_h * value / top
            parts.append(f'<rect x="{x0 + bar * number:.1f}" y="{TOP + plot_h - height:.1f}" width="{bar:.1f}" '
                         f'height="{height:.1f}" fill="{COLOURS[number % 3]}"><title>{hour:02d}:00 '
                         f'{escape(name)}: {_fmt(value)}{escape(unit)}</title></rect>')
    if target is not None:
        y = TOP + plot_h - plot_h * target / top
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" stroke="#e07000" '
                     f'stroke-width="2" stroke-dasharray="6 4"/>')
    parts.append("</svg>")
    legend = " ".join(f'<span class="key key-{n % 3}">{escape(name)}</span>'
                      for n, (name, _) in enumerate(series))
    if target is not None:
        legend += ' <span class="key key-target">цель</span>'
    return f"<figure><figcaption>{escape(title)} {legend}</figcaption>{''.join(parts)}</figure>"


CHANNELS = {"web": "сайт", "ivr": "IVR", "operator": "оператор"}


def _pair(stats: dict[str, Any]) -> str:
    return f"{_fmt(stats['average'])} / {_fmt(stats['longest'])}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th scope=col>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def _navigation(day: date) -> str:
    """Links to the day before and after, and a date form (plain GET: works without JavaScript)."""
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    return (f'<nav class="days" aria-label="Другой день"><a href="?date={before}">← {escape(russian_date(before))}'
            f'</a> <form method="get" action="/reports/day"><label for="date">Дата</label> '
            f'<input id="date" name="date" type="date" value="{day}" min="2000-01-01" max="2099-12-31" required> '
            f'<button type="submit">Показать</button></form> <a href="?date={after}">'
            f'{escape(russian_date(after))} →</a></nav>')


def render(report: dict[str, Any], title: str, current_hour: int | None = None) -> str:
    """The page. `current_hour`: on the report's own day, the hour now: later hours have no figures yet and
    show a dash, not a zero."""
    rows: list[dict[str, Any]] = [
        row if current_hour is None or row["hour"] <= current_hour else
        {key: (value if key == "hour" else None) for key, value in row.items()} for row in report["by_hour"]]
    hours: list[int] = [int(row["hour"]) for row in rows]
    column = {key: [row[key] for row in rows] for key in rows[0]} if hours else {}
    calls = report["calls"]
    charts = ""
    if hours:
        charts = (
            bar_chart("offered", "Звонки и брошенные по часам", hours,
                      [("поступило", column["offered"]), ("брошено", column["abandoned"])]) +
            bar_chart("waits", "Ожидание по часам, секунды", hours,
                      [("среднее до ответа", column["average_speed_of_answer"]),
                       ("самое долгое", column["longest_wait"])], unit=" с") +
            bar_chart("service-level", "Уровень сервиса по часам, %", hours,
                      [("уровень сервиса", [_percent(v) for v in column["service_level"]])],
                      target=_percent(calls["service_level_target"]), unit=" %") +
            bar_chart("operators", "Операторы: на линии и нужно по Эрлангу C", hours,
                      [("на линии", column["operators_logged_in"]), ("нужно", column["operators_needed"])]))
    sl = calls["service_level"]
    summary = _table(["Поступило", "Отвечено", "Брошено", "Вышли (обратный звонок)", "Уровень сервиса",
                      "Ср. время ответа, с", "Самое долгое ожидание, с", "Ср. длительность, с"],
                     [[calls["offered"], calls["answered"], calls["abandoned"], calls["exited"],
                       None if sl is None else f"{_fmt(sl * 100)} % (цель {calls['service_level_target'] * 100:.0f} %"
                       f" за {calls['service_level_seconds']} с)",
                       calls["average_speed_of_answer"], calls["longest_wait"], calls["average_handle_time"]]])
    hourly = _table(["Час", "Поступило", "Отвечено", "Брошено", "Уровень сервиса", "Ср. ответ, с", "Дольше всех, с",
                     "Ср. длит., с", "Операторов на линии", "Нужно (Эрланг C)"],
                    [[f"{r['hour']:02d}:00", r["offered"], r["answered"], r["abandoned"],
                      None if r["service_level"] is None else f"{r['service_level'] * 100:.0f} %",
                      r["average_speed_of_answer"], r["longest_wait"], r["average_handle_time"],
                      r["operators_logged_in"], r["operators_needed"]] for r in rows])
    cb = report["callbacks"]
    reasons = ", ".join(f"{k}: {v}" for k, v in cb["failed_by_reason"].items())
    callbacks = _table(["Заказано", "По каналам", "С первой попытки", "С повторной", "Не удались (причины)",
                        "Перенесены на следующий день", "Отменены", "Истекли", "В работе"],
                       [[cb["requested"], ", ".join(f"{CHANNELS.get(k, k)}: {v}"
                                                    for k, v in cb["requested_by_channel"].items()) or "—",
                         cb["completed_first_attempt"], cb["completed_later_attempt"],
                         f"{cb['failed']} ({reasons})" if reasons else cb["failed"],
                         cb["carried_over"], cb["cancelled"], cb["expired"], cb["pending"]]])
    lookup_rows = [[CHANNELS.get(channel, channel), counts.get("verified", 0), counts.get("refused", 0),
                    counts.get("locked", 0),
                    sum(v for k, v in counts.items() if k not in ("verified", "refused", "locked"))]
                   for channel, counts in report["case_lookups"]["by_channel"].items()]
    lookups = _table(["Канал", "Подтверждено", "Отказано", "Заблокировано", "Прочее"],
                     lookup_rows or [["нет запросов", 0, 0, 0, 0]])
    video = report["video"]
    videos = _table(["Сеансов", "С переводчиком", "С оператором", "Ожидание переводчика ср./макс., с",
                     "Ожидание оператора ср./макс., с"],
                    [[video["sessions"], video["by_mode"].get("sign", 0), video["by_mode"].get("operator", 0),
                      _pair(video["wait_for_interpreter"]), _pair(video["wait_for_operator"])]])
    day = date.fromisoformat(report["date"])
    pending = "" if current_hour is None else \
        f'<p class="note">День ещё идёт: часы после {current_hour:02d}:00 пока без данных.</p>'
    return f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — отчёт за {escape(russian_date(day))}</title>
<link rel="stylesheet" href="/static/reports.css"></head><body>
<h1>{escape(title)}: отчёт за {escape(russian_date(day))}</h1>
{_navigation(day)}
<p>Время московское ({escape(report["timezone"])}). Скачать: <a href="/api/reports/day.csv?date={day}">CSV</a>
 · <a href="/api/reports/day?date={day}">JSON</a> · <a href="/">Панель</a></p>{pending}
<h2>Звонки</h2>{summary}{charts}<h2>По часам</h2>{hourly}
<h2>Обратные звонки</h2>{callbacks}<h2>Запросы статуса дела</h2>{lookups}<h2>Видеосеансы</h2>{videos}
</body></html>"""
