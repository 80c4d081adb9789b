"""The Cluster shells panel as a demanding user sees it (issue 22), in JupyterLab's light and dark themes,
in a real JupyterLab and a real browser.

The New shell form fits the side bar at its default and narrowest widths; its preset is JupyterLab's
select (a caret, whole labels); what is wrong is said at the field (``aria-invalid``, the message as the
field's description); Escape closes it. The kubectl presets are offered where shells run in a cluster
only, and the form says why not elsewhere. A new shell at the end of a long list is scrolled into view;
the active tab's shell is marked. Items show *once* and the time left, are named by name and phase,
offer ↻ only where a reconnect can help; "Remove ended shells" asks once; the delete dialog's default
is Cancel and the focus comes back to the list. Every text is readable (WCAG AA, from the computed
colours).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.harness.contrast import AA, CONTRAST, UI
from tests.harness.lab import Lab, change_theme, open_lab, open_panel, wait_for_state, wait_for_text

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
PANEL = "#jp-CloudTTY-panel"

# The labels the preset select shows where shells run in a cluster (presets.ts).
CLUSTER_PRESETS = ["Interactive shell", "Follow a pod's logs", "Watch cluster events", "Exec into a container"]
CLUSTER_INFO = {
    "backend": "kubernetes",
    "reason": "kubeconfig at https://10.0.0.1:6443",
    "namespace": "team-a",
    "identity": "alice",
    "recording": {"mode": "off", "input": False},
}

# What does not fit: controls and texts of the panel that stick out of it, are cut off, or whose label
# wraps inside a button; and a panel that scrolls sideways.
MISFITS = """(panel) => {
  const bounds = panel.getBoundingClientRect();
  const problems = [];
  const shown = 'button, label, select, input, .jp-CloudTTY-field-error, .jp-CloudTTY-presets-note,'
    + ' .jp-CloudTTY-command-preview, .jp-CloudTTY-heading, .jp-CloudTTY-backend, .jp-CloudTTY-ended-bar > span';
  for (const node of panel.querySelectorAll(shown)) {
    if (!node.getClientRects().length) { continue; }
    const box = node.getBoundingClientRect();
    const name = node.getAttribute('aria-label') || node.textContent.trim() || node.name;
    if (box.left < bounds.left - 0.5 || box.right > bounds.right + 0.5) { problems.push(`${name}: outside`); }
    if (node.scrollWidth > node.clientWidth + 1 && !['INPUT', 'SELECT'].includes(node.tagName)) {
      problems.push(`${name}: cut off`);
    }
    if (node.tagName === 'BUTTON' && node.scrollHeight > node.clientHeight + 1) { problems.push(`${name}: wraps`); }
  }
  if (panel.scrollWidth > panel.clientWidth + 1) { problems.push('the panel scrolls sideways'); }
  return problems;
}"""

# The select's labels against the room its box leaves for them (its padding keeps the caret's place),
# and its caret: inside the box, drawn.
SELECT_FIT = """(select) => {
  const style = getComputedStyle(select);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = style.font;
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const caret = select.parentElement.querySelector(':scope > span svg');
  const box = select.getBoundingClientRect();
  const at = caret ? caret.getBoundingClientRect() : null;
  return {
    room,
    labels: [...select.options].map((o) => [o.text, ctx.measureText(o.text).width]),
    caretInside: !!at && at.width > 0 && at.left >= box.left + box.width / 2 && at.right <= box.right
      && at.top >= box.top && at.bottom <= box.bottom,
  };
}"""

# The panel widget (panel.tsx's ShellsPanel), as index.ts adds it to the left side bar.
SET_ACTIVE = """(name) => {
  const panel = [...window.jupyterapp.shell.widgets('left')].find((w) => w.id === 'jp-CloudTTY-panel');
  panel.setActiveShell(name);
}"""


@pytest.fixture(params=sorted(THEMES))
def theme(request) -> str:
    return THEMES[request.param]


def open_lab_in(page: Page, lab: Lab, theme: str) -> None:
    """JupyterLab in ``theme``, once the launcher is open. JupyterLab opens it after restoring the layout
    (a second later here) and gives it the keyboard: a test that types waits for that first."""
    open_lab(page, lab)
    expect(page.locator(".jp-Launcher")).to_be_visible()
    page.wait_for_function("() => !!document.activeElement && !!document.activeElement.closest('.jp-Launcher')")
    change_theme(page, theme)


def clear_shells(lab: Lab) -> None:
    """No shells from the tests before (they share this module's server)."""
    status, shells = lab.api("GET", "shells")
    assert status == 200, shells
    for shell in shells:
        lab.api("DELETE", f"shells/{shell['name']}")


def item(page: Page, name: str) -> Locator:
    return page.locator(f'{PANEL} .jp-CloudTTY-shell[data-shell-name="{name}"]')


def api_url(path: str) -> re.Pattern[str]:
    """A route's URL pattern for the REST API's ``path`` (the browser adds a cache-busting query)."""
    return re.compile(rf"/cloudtty/api/{re.escape(path)}(\?[^/]*)?$")


def drag_side_bar_to(page: Page, x: float) -> float:
    """Drag the left side bar's edge to ``x`` as a user does; returns the panel's width then."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)").first
    box = handle.bounding_box()
    assert box, "the side bar's edge is not shown"
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(x, y, steps=8)
    page.mouse.up()
    width = page.locator(PANEL).bounding_box()
    assert width
    return width["width"]


def narrowest_side_bar(page: Page) -> float:
    """As narrow as JupyterLab lets the side bar be (its --jp-sidebar-min-width)."""
    minimum = page.evaluate(
        "() => parseFloat(getComputedStyle(document.body).getPropertyValue('--jp-sidebar-min-width'))"
    )
    width = drag_side_bar_to(page, 0)
    assert abs(width - minimum) <= 2, (width, minimum)
    return width


def assert_fits(page: Page, where: str) -> None:
    assert page.locator(PANEL).evaluate(MISFITS) == [], where


def assert_readable(locators: list[Locator]) -> None:
    """Every one of them (those shown) has text at AA contrast over its background."""
    low = []
    for locator in locators:
        for index in range(locator.count()):
            found = locator.nth(index)
            if found.is_visible():
                seen = found.evaluate(CONTRAST)
                if seen["text"] and seen["ratio"] < AA:
                    low.append(seen)
    assert low == [], low


def described_by(field: Locator) -> str:
    """The field's accessible description: the texts its aria-describedby names."""
    return field.evaluate(
        "(node) => (node.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean)"
        ".map((id) => document.getElementById(id)).filter(Boolean).map((e) => e.textContent.trim()).join(' ')"
    )


def assert_error_at(form: Locator, field: Locator, message: str | re.Pattern[str]) -> None:
    """The field is marked wrong, says why as its description, and the message is shown at it."""
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    error = form.locator(".jp-CloudTTY-field-error").filter(has_text=message)
    expect(error).to_be_visible()
    text = error.inner_text()
    assert text in described_by(field)
    # At the field: right under it, not at the form's end.
    field_box, error_box = field.bounding_box(), error.bounding_box()
    assert field_box and error_box
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 12, (field_box, error_box)
    assert_readable([error])


def test_the_form_fits_the_side_bar_and_says_what_is_wrong_at_the_field(
    page: Page, lab: Lab, theme: str, output_dir
) -> None:
    clear_shells(lab)
    assert lab.api("POST", "shells", {"name": "taken"})[0] == 201
    open_lab_in(page, lab, theme)
    open_panel(page)
    panel = page.locator(PANEL)
    suffix = theme.split()[-1].lower()

    # Options… opens the form, the keyboard in its first field.
    options = panel.get_by_role("button", name="Options…")
    options.click()
    expect(options).to_have_attribute("aria-expanded", "true")
    form = panel.get_by_role("form", name="New shell")
    preset = form.get_by_label("Preset")
    expect(preset).to_be_focused()
    assert_fits(page, "the default width")
    for width in ("default", "narrowest"):
        if width == "narrowest":
            narrowest_side_bar(page)
            assert_fits(page, "the narrowest width")
        page.screenshot(path=output_dir / f"panel-form-{width}-{suffix}.png")

    # The local backend has no cluster: no kubectl presets, and the form says why, at the select.
    status, info = lab.api("GET", "info")
    assert status == 200 and info["backend"] == "local", info
    expect(preset.locator("option")).to_have_text(["Interactive shell"])
    note = form.locator(".jp-CloudTTY-presets-note")
    expect(note).to_have_text(f"Pod logs, events and exec need a cluster; shells here are local: {info['reason']}.")
    assert note.inner_text() in described_by(preset)
    fit = preset.evaluate(SELECT_FIT)
    assert fit["caretInside"], fit
    assert all(width <= fit["room"] for _, width in fit["labels"]), fit
    assert_readable([note, form.locator("label"), preset])

    # A time to live the browser cannot read: said at that field, which takes the focus.
    ttl = form.get_by_label("Time to live")
    ttl.fill("soon")
    form.get_by_role("button", name="Create").click()
    assert_error_at(form, ttl, '"soon" is not a duration: write e.g. 90s, 15m, 2h or 1h30m.')
    assert_fits(page, "with an error at the narrowest width")
    page.screenshot(path=output_dir / f"panel-form-error-{suffix}.png")
    ttl.fill("1h30m")  # mended: no longer marked
    expect(ttl).not_to_have_attribute("aria-invalid", "true")
    expect(form.locator(".jp-CloudTTY-field-error")).to_have_count(0)

    # What the server refuses about a field is said at that field, in the server's words.
    name = form.get_by_label("Name (optional)")
    name.fill("taken")
    page.keyboard.press("Enter")
    assert_error_at(form, name, "A shell named 'taken' already exists")
    name.fill("Not_A_Name")
    page.keyboard.press("Enter")
    status, body = lab.api("POST", "shells", {"name": "Not_A_Name"})
    assert status == 400 and body["message"].startswith("name: "), body
    assert_error_at(form, name, body["message"].removeprefix("name: "))
    expect(panel.get_by_role("alert")).to_have_count(0)  # not repeated under the form

    # What concerns no field is said in the form, as an alert.
    refusal = "this server already has 2 shells, the most it allows (c.CloudTTY.max_shells); delete one first"
    page.route(
        api_url("shells"),
        lambda route: (
            route.fulfill(status=429, json={"message": refusal}) if route.request.method == "POST" else route.fallback()
        ),
    )
    name.fill("timed")
    page.keyboard.press("Enter")
    expect(form.get_by_role("alert")).to_have_text(refusal)
    assert_readable([form.get_by_role("alert")])
    page.unroute(api_url("shells"))

    # Escape closes the form; the keyboard is back on the button that opened it.
    name.focus()
    page.keyboard.press("Escape")
    expect(form).to_have_count(0)
    expect(options).to_be_focused()
    expect(options).to_have_attribute("aria-expanded", "false")

    # From the keyboard again, and a time to live that is then counted down in the list.
    page.keyboard.press("Enter")
    expect(form.get_by_label("Preset")).to_be_focused()
    form.get_by_label("Name (optional)").fill("timed")
    form.get_by_label("Time to live").fill("1h30m")
    form.get_by_role("button", name="Create").click()
    expect(form).to_have_count(0)
    expect(item(page, "timed").locator(".jp-CloudTTY-shell-left")).to_have_text(re.compile(r"^1h (30|29)m left$"))
    assert lab.api("GET", "shells/timed")[1]["spec"] == {"ttlSecondsAfterStarted": 5400}


def test_where_shells_run_in_a_cluster_every_preset_fits_and_asks_for_its_pod(
    page: Page, lab: Lab, theme: str, output_dir
) -> None:
    clear_shells(lab)
    # The server as a Kubernetes backend describes itself (the shells are still this machine's).
    page.route(api_url("info"), lambda route: route.fulfill(json=CLUSTER_INFO))
    open_lab_in(page, lab, theme)
    open_panel(page)
    panel = page.locator(PANEL)
    expect(panel.locator(".jp-CloudTTY-backend")).to_have_text("Kubernetes · team-a")
    narrowest_side_bar(page)
    panel.get_by_role("button", name="Options…").click()
    form = panel.get_by_role("form", name="New shell")
    preset = form.get_by_label("Preset")

    # Every preset, none hidden; each label whole in the narrowest side bar, beside a visible caret.
    expect(preset.locator("option")).to_have_text(CLUSTER_PRESETS)
    expect(form.locator(".jp-CloudTTY-presets-note")).to_have_count(0)
    fit = preset.evaluate(SELECT_FIT)
    assert fit["caretInside"], fit
    assert all(width <= fit["room"] for _, width in fit["labels"]), fit
    caret = preset.evaluate(CONTRAST, ":scope > span svg [fill]")
    assert caret["fill"] is not None and caret["fill"] >= UI, caret

    # A preset that needs a pod previews its command, and says at the pod's field that it needs one.
    preset.select_option(label="Follow a pod's logs")
    preview = form.locator(".jp-CloudTTY-command-preview")
    expect(preview).to_have_text("kubectl logs -f POD")
    assert "kubectl logs -f POD" in described_by(preset)
    form.get_by_role("button", name="Create").click()
    pod = form.get_by_label("Pod", exact=True)
    assert_error_at(form, pod, "Pod is required.")
    assert_fits(page, "logs, with an error, at the narrowest width")
    assert_readable([preview, form.locator("label")])
    page.screenshot(path=output_dir / f"panel-form-cluster-{theme.split()[-1].lower()}.png")

    # Filled in: the command is the preset's (kubectl is not on this machine: that shell fails).
    pod.fill("web-1")
    expect(preview).to_have_text("kubectl logs -f web-1")
    form.get_by_label("Name (optional)").fill("logs")
    form.get_by_role("button", name="Create").click()
    expect(form).to_have_count(0)
    assert lab.api("GET", "shells/logs")[1]["spec"] == {"commandAction": "kubectl logs -f web-1"}


def test_a_new_shell_is_shown_and_the_active_tabs_shell_marked(page: Page, lab: Lab, theme: str) -> None:
    clear_shells(lab)
    names = [f"s{i:02d}" for i in range(14)]
    for name in names:
        assert lab.api("POST", "shells", {"name": name})[0] == 201
    page.set_viewport_size({"width": 1400, "height": 600})  # a list longer than the panel
    open_lab_in(page, lab, theme)
    open_panel(page)
    panel = page.locator(PANEL)
    expect(panel.locator(".jp-CloudTTY-shell")).to_have_count(len(names))
    assert panel.evaluate("(node) => node.scrollHeight > node.clientHeight")

    def wait_in_view(name: str) -> None:
        """Until the item is wholly inside the panel's scrolled view."""
        page.wait_for_function(
            f"(name) => {{ const view = document.querySelector('{PANEL}').getBoundingClientRect();"
            f" const node = document.querySelector(`{PANEL} [data-shell-name='${{name}}']`);"
            " const box = node && node.getBoundingClientRect();"
            " return !!box && box.top >= view.top && box.bottom <= view.bottom; }",
            arg=name,
        )

    # New shell: it comes at the end of the list, scrolled into view.
    panel.get_by_role("button", name="New shell").click()
    expect(panel.locator(".jp-CloudTTY-shell")).to_have_count(len(names) + 1)
    new = panel.locator(".jp-CloudTTY-shell").last.get_attribute("data-shell-name")
    assert new and new not in names
    wait_for_state(page, new, "s.state === 'open'")
    wait_in_view(new)

    # The active tab's shell: marked for screen readers and to the eye, and brought into view.
    panel.evaluate("(node) => { node.scrollTop = node.scrollHeight; }")
    page.evaluate(SET_ACTIVE, "s00")
    first = item(page, "s00").get_by_role("button", name="s00, Ready", exact=True)
    expect(first).to_have_attribute("aria-current", "true")
    expect(panel.locator('[aria-current="true"]')).to_have_count(1)
    wait_in_view("s00")
    page.mouse.move(900, 300)  # not hovering the list
    look = "(node) => [getComputedStyle(node).backgroundColor, getComputedStyle(node).boxShadow]"
    assert item(page, "s00").evaluate(look) != item(page, "s01").evaluate(look)
    assert_readable([item(page, "s00").locator("span")])
    page.evaluate(SET_ACTIVE, None)
    expect(panel.locator('[aria-current="true"]')).to_have_count(0)
    assert item(page, "s00").evaluate(look) == item(page, "s01").evaluate(look)


def test_items_say_once_and_time_left_and_are_removed_tidily(page: Page, lab: Lab, theme: str, output_dir) -> None:
    clear_shells(lab)
    suffix = theme.split()[-1].lower()
    keep, expired, broke, after = (f"{what}-{suffix}" for what in ("keep", "expired", "broke", "after"))
    for name, spec in (
        (keep, {"once": True, "ttlSecondsAfterStarted": 3600}),
        (expired, {"ttlSecondsAfterStarted": 1}),
        (broke, {"commandAction": "echo ready; read line; exit 3"}),
        (after, {}),
    ):
        assert lab.api("POST", "shells", {"name": name, "spec": spec})[0] == 201
    open_lab_in(page, lab, theme)
    open_panel(page)
    panel = page.locator(PANEL)

    # once and the time left, on the item; its name is the shell's name and phase, nothing that ticks.
    expect(item(page, keep).get_by_text("once", exact=True)).to_be_visible()
    expect(item(page, keep).locator(".jp-CloudTTY-shell-left")).to_have_text(re.compile(r"^(1h|59m( \d+s)?) left$"))
    opener = panel.get_by_role("button", name=f"{keep}, Ready", exact=True)
    expect(opener).to_be_visible()
    expect(opener).to_have_accessible_description("interactive shell")
    expect(panel.get_by_role("button", name=f"{expired}, Complete", exact=True)).to_be_visible()

    # A shell that fails with its tab open: no ↻ (a reconnect cannot help), as on an ended shell.
    item(page, broke).locator(".jp-CloudTTY-shell-open").click()
    wait_for_text(page, broke, "^ready")
    page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{broke}"] .xterm').click()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("button", name=f"{broke}, Failed", exact=True)).to_be_visible()
    wait_for_state(page, broke, "s.state === 'ended'")
    expect(item(page, broke).locator(".jp-CloudTTY-shell-meta")).to_contain_text("tab: ended")
    expect(panel.get_by_role("button", name=re.compile("^Reconnect"))).to_have_count(0)

    # Readable, every text of every item, in this theme.
    page.mouse.move(900, 300)
    shown = [
        panel.locator(".jp-CloudTTY-heading"),
        panel.locator(".jp-CloudTTY-backend"),
        panel.locator(".jp-CloudTTY-shell-name"),
        panel.locator(".jp-CloudTTY-phase"),
        panel.locator(".jp-CloudTTY-badge"),
        panel.locator(".jp-CloudTTY-shell-command"),
        panel.locator(".jp-CloudTTY-shell-meta"),
        panel.locator(".jp-CloudTTY-ended-bar > span"),
        panel.get_by_role("button", name="Remove ended shells"),
        panel.get_by_role("button", name="New shell"),
    ]
    assert_readable(shown)
    page.screenshot(path=output_dir / f"panel-items-{suffix}.png")

    # Remove ended shells: one question, Cancel its default; no from the keyboard keeps them.
    remove = panel.get_by_role("button", name="Remove ended shells")
    expect(panel.locator(".jp-CloudTTY-ended-bar")).to_contain_text("2 ended")
    remove.click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Remove 2 ended shells (")
    for name in (expired, broke):
        expect(dialog).to_contain_text(name)
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    expect(panel.locator(".jp-CloudTTY-shell")).to_have_count(4)
    expect(remove).to_be_focused()
    listed = panel.locator(".jp-CloudTTY-shell").evaluate_all("(items) => items.map((i) => i.dataset.shellName)")
    remove.click()
    dialog.get_by_role("button", name="Remove").click()
    expect(panel.locator(".jp-CloudTTY-shell")).to_have_count(2)
    assert [lab.api("GET", f"shells/{name}")[0] for name in (expired, broke)] == [404, 404]
    expect(panel.locator(".jp-CloudTTY-ended-bar")).to_have_count(0)
    # The focus: the item now where the first removed one was (the list is in creation order, then by name).
    left = [name for name in listed if name not in (expired, broke)]
    there = left[min(min(listed.index(expired), listed.index(broke)), len(left) - 1)]
    expect(panel.get_by_role("button", name=f"{there}, Ready", exact=True)).to_be_focused()

    # A refusal is shown in the panel, readable.
    page.route(
        api_url(f"shells/{after}"),
        lambda route: (
            route.fulfill(status=403, json={"message": "not yours to delete"})
            if route.request.method == "DELETE"
            else route.fallback()
        ),
    )
    item(page, after).get_by_role("button", name=f"Delete {after}").click()
    dialog.get_by_role("button", name="Delete").click()
    error = panel.locator(".jp-CloudTTY-error")
    expect(error).to_contain_text("not yours to delete")
    assert_readable([error.locator("span")])
    page.unroute(api_url(f"shells/{after}"))
    error.get_by_role("button", name="Dismiss").click()

    # Delete: Cancel is the default; once deleted, the focus goes to the next item, then to the list.
    item(page, keep).get_by_role("button", name=f"Delete {keep}").click()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Delete").click()
    expect(item(page, keep)).to_have_count(0)
    after_opener = panel.get_by_role("button", name=f"{after}, Ready", exact=True)
    expect(after_opener).to_be_focused()
    page.keyboard.press("Tab")  # to its Delete button, from the keyboard
    expect(item(page, after).get_by_role("button", name=f"Delete {after}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel.get_by_text("No shells yet.")).to_be_visible()
    assert page.evaluate(f"() => !!document.activeElement.closest('{PANEL}')"), "the focus fell out of the panel"
    assert lab.api("GET", f"shells/{after}")[0] == 404
