"""Jinja2 templates of the evaluation report (Markdown for the repo, HTML for a browser)."""

MARKDOWN = """# Caption evaluation{% if info.title %}: {{ info.title }}{% endif %}

{{ info.images }} images; bootstrap: {{ info.bootstrap_samples }} resamples of images, seed {{ info.seed }}, 95% percentile intervals.
{% for k, v in info.items() if k not in ("images", "bootstrap_samples", "seed", "title") %}- {{ k }}: {{ v }}
{% endfor %}
## Metrics

| metric |{% for s in systems %} {{ s }} |{% endfor %}
|---|{% for s in systems %}---|{% endfor %}
{% for m in metrics %}| {{ m }} |{% for s in systems %} {{ cell(summary.systems[s][m]) }} |{% endfor %}
{% endfor %}
{% for name, comp in summary.comparisons.items() %}
## {{ name }} vs {{ baseline }} (paired bootstrap)

| metric | {{ baseline }} | {{ name }} | delta [95% CI] | p | win rate (W/T/L) |
|---|---|---|---|---|---|
{% for m, c in comp.items() %}| {{ m }}{% if c.lower_is_better %} (lower is better){% endif %} | {{ num(c.base) }} | {{ num(c.tuned) }} | {{ num(c.delta.value) }} [{{ num(c.delta.low) }}, {{ num(c.delta.high) }}] | {{ num(c.p_value) }} | {{ num(c.win_rate) }} ({{ c.wins }}/{{ c.ties }}/{{ c.losses }}) |
{% endfor %}
{% endfor %}
{% for key, groups in summary.breakdowns.items() %}
## By {{ key }}

| {{ key }} | n |{% for s in systems %}{% for m in breakdown_metrics %} {{ s }} {{ m }} |{% endfor %}{% endfor %}
|---|---|{% for s in systems %}{% for m in breakdown_metrics %}---|{% endfor %}{% endfor %}
{% for g, row in groups.items() %}| {{ g }} | {{ row.n }} |{% for s in systems %}{% for m in breakdown_metrics %} {{ cell(row[s][m]) if m in row[s] else "" }} |{% endfor %}{% endfor %}
{% endfor %}
{% endfor %}
## Plots
{% for title, path in plots %}
![{{ title }}]({{ path }})
{% endfor %}
{% if gallery %}
## Gallery
| image | references |{% for s in systems %} {{ s }} |{% endfor %}
|---|---|{% for s in systems %}---|{% endfor %}
{% for g in gallery %}| {% if g.thumb %}![{{ g.id }}]({{ g.thumb }}) {% endif %}{{ g.id }} | {{ g.references | join(" / ") | md }} |{% for s in systems %} {{ g[s].caption | md }} ({{ gallery_metric }} {{ num(g[s].scores[gallery_metric]) }}) |{% endfor %}
{% endfor %}
{% endif %}
## Notes
{% for n in notes %}- {{ n }}
{% endfor %}{% for p in summary.problems or [] %}- problem: {{ p }}
{% endfor %}"""

HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Caption evaluation</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}img.thumb{max-width:160px}</style></head>
<body><h1>Caption evaluation{% if info.title %}: {{ info.title }}{% endif %}</h1>
<p>{{ info.images }} images; bootstrap: {{ info.bootstrap_samples }} resamples, seed {{ info.seed }}, 95% percentile intervals.</p>
<ul>{% for k, v in info.items() if k not in ("images", "bootstrap_samples", "seed", "title") %}<li>{{ k }}: {{ v }}</li>{% endfor %}</ul>
<h2>Metrics</h2><table><tr><th>metric</th>{% for s in systems %}<th>{{ s }}</th>{% endfor %}</tr>
{% for m in metrics %}<tr><td>{{ m }}</td>{% for s in systems %}<td>{{ cell(summary.systems[s][m]) }}</td>{% endfor %}</tr>{% endfor %}</table>
{% for name, comp in summary.comparisons.items() %}<h2>{{ name }} vs {{ baseline }} (paired bootstrap)</h2>
<table><tr><th>metric</th><th>{{ baseline }}</th><th>{{ name }}</th><th>delta [95% CI]</th><th>p</th><th>win rate (W/T/L)</th></tr>
{% for m, c in comp.items() %}<tr><td>{{ m }}{% if c.lower_is_better %} (lower is better){% endif %}</td><td>{{ num(c.base) }}</td><td>{{ num(c.tuned) }}</td>
<td>{{ num(c.delta.value) }} [{{ num(c.delta.low) }}, {{ num(c.delta.high) }}]</td><td>{{ num(c.p_value) }}</td>
<td>{{ num(c.win_rate) }} ({{ c.wins }}/{{ c.ties }}/{{ c.losses }})</td></tr>{% endfor %}</table>{% endfor %}
{% for key, groups in summary.breakdowns.items() %}<h2>By {{ key }}</h2><table><tr><th>{{ key }}</th><th>n</th>
{% for s in systems %}{% for m in breakdown_metrics %}<th>{{ s }} {{ m }}</th>{% endfor %}{% endfor %}</tr>
{% for g, row in groups.items() %}<tr><td>{{ g }}</td><td>{{ row.n }}</td>{% for s in systems %}{% for m in breakdown_metrics %}
<td>{{ cell(row[s][m]) if m in row[s] else "" }}</td>{% endfor %}{% endfor %}</tr>{% endfor %}</table>{% endfor %}
<h2>Plots</h2>{% for title, path in plots %}<figure><img src="{{ path }}" alt="{{ title }}"><figcaption>{{ title }}</figcaption></figure>{% endfor %}
{% if gallery %}<h2>Gallery</h2><table><tr><th>image</th><th>references</th>{% for s in systems %}<th>{{ s }}</th>{% endfor %}</tr>
{% for g in gallery %}<tr><td>{% if g.thumb %}<img class="thumb" src="{{ g.thumb }}" alt="{{ g.id }}"><br>{% endif %}{{ g.id }}</td>
<td>{{ g.references | join(" / ") }}</td>{% for s in systems %}<td>{{ g[s].caption }}<br><small>{% for m, v in g[s].scores.items() if v is not none %}{{ m }} {{ num(v) }}; {% endfor %}</small></td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
<h2>Notes</h2><ul>{% for n in notes %}<li>{{ n }}</li>{% endfor %}{% for p in summary.problems or [] %}<li>problem: {{ p }}</li>{% endfor %}</ul>
</body></html>
"""
