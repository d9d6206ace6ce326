"""The classifier of IMSLP's answers, table-driven: (status, URL, headers, text) -> next step."""

import pytest

from visionscores.acquire.protocol import Failure, Follow, classify

ENTRY = "https://imslp.org/wiki/Special:ImagefromIndex/01234"
FILE = "https://ks15.imslp.org/files/imglnks/usimg/a/ab/IMSLP01234-Score.pdf"


def page(title: str, body: str) -> str:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>"


DISCLAIMER = page(
    "Disclaimer - IMSLP",
    "<p>Public domain in Canada.</p>"
    "<a href='/wiki/Special:IMSLPDisclaimerAccept/01234'>I accept this disclaimer</a>",
)
WAIT = page(
    "IMSLP - Download",
    "<p>Your download will begin in 15 seconds. <a href='/wiki/IMSLP:Subscriptions'>Subscribe"
    "</a> to skip the wait.</p><span id='sm_dl_wait' data-id='https&#58;&#x2F;&#x2F;ks15.imslp"
    ".org&#x2F;files&#x2F;imglnks&#x2F;usimg&#x2F;a&#x2F;ab&#x2F;IMSLP01234-Score.pdf'>15</span>",
)
CAP = page(
    "Subscribe - IMSLP",
    "<p>You have reached the daily limit of free downloads.</p>"
    "<a href='/wiki/IMSLP:Subscriptions'>Subscribe</a>",
)
BLOCKED = page("IMSLP", "<p>This file is currently blocked pending copyright review.</p>")
EU_CONTINUE = page(
    "IMSLP EU - Download",
    "<a href='/wiki/Main_Page'>Home</a> <a href='/files/x/IMSLP01234-Score.pdf'>Click here to "
    "continue your download.</a>",
)

CASES = [
    # (status, url, headers, text, disclaimer_accepted, expected)
    (302, ENTRY, {"Location": FILE}, "", False, Follow(FILE)),
    (302, ENTRY, {"Location": "/friendlytest.html"}, "", False, "captcha"),
    (
        302,
        ENTRY,
        {"Location": "https://imslp.org/friendlyredirect.html"},
        "",
        False,
        "js-challenge",
    ),
    (302, ENTRY, {}, "", False, "http-error"),
    (404, ENTRY, {}, page("Not Found", "No such file."), False, "not-found"),
    (410, FILE, {}, "", False, "not-found"),
    (403, FILE, {}, BLOCKED, False, "copyright-blocked"),
    (403, FILE, {}, page("Forbidden", "No."), False, "http-error"),
    (
        200,
        ENTRY,
        {},
        DISCLAIMER,
        False,
        Follow(
            "https://imslp.org/wiki/Special:IMSLPDisclaimerAccept/01234", accepts_disclaimer=True
        ),
    ),
    (200, ENTRY, {}, DISCLAIMER, True, "disclaimer-loop"),
    (200, ENTRY, {}, WAIT, False, Follow(FILE, wait_s=15.0)),
    (200, ENTRY, {}, CAP, False, "daily-cap"),
    (200, ENTRY, {}, BLOCKED, False, "copyright-blocked"),
    (200, ENTRY, {}, page("Bot Check", "<form>Prove you are human.</form>"), False, "captcha"),
    (
        200,
        "https://imslp.eu/x",
        {},
        EU_CONTINUE,
        False,
        Follow("https://imslp.eu/files/x/IMSLP01234-Score.pdf"),
    ),
    (200, FILE, {}, page("IMSLP", "<p>Something went wrong.</p>"), False, "not-pdf"),
]


@pytest.mark.parametrize(("status", "url", "headers", "text", "accepted", "expected"), CASES)
def test_answers_are_classified(status, url, headers, text, accepted, expected):
    step = classify(status, url, headers, text, disclaimer_accepted=accepted, entry_url=ENTRY)
    if isinstance(expected, str):
        assert isinstance(step, Failure) and step.cause == expected
    else:
        assert step == expected


def test_accept_link_answering_a_page_goes_back_to_the_entry():
    accept = "https://imslp.org/wiki/Special:IMSLPDisclaimerAccept/01234"
    step = classify(200, accept, {}, page("IMSLP", "<p>Thanks.</p>"), disclaimer_accepted=True,
                    entry_url=ENTRY)  # fmt: skip
    assert step == Follow(ENTRY)


# Realistic variants of each page: line breaks and markup inside the phrase, entities.
VARIANTS = [
    (
        "copyright-blocked",
        page("IMSLP", "This file is currently <b>blocked</b>\n   pending\ncopyright review."),
    ),
    ("copyright-blocked", page("IMSLP", "<p>blocked&nbsp;pending&#32;copyright <i>review</i></p>")),
    ("copyright-blocked", page("IMSLP", "<div>Blocked Pending\r\nCopyright Review</div>")),
    (
        "daily-cap",
        page("IMSLP", "<p>You have reached the <em>daily</em>\nlimit of free downloads.</p>"),
    ),
    ("daily-cap", page("IMSLP &#8211; Subscribe", "<p>Please support us.</p>")),
    ("daily-cap", page("IMSLP", "Daily&#x20;download<br/>\nlimit reached for 203.0.113.5")),
    ("captcha", page("Bot&nbsp;Check", "<form></form>")),
    ("captcha", page("IMSLP", "<h1>Bot\n<span>check</span></h1><div class='g-recaptcha'></div>")),
    ("captcha", page("IMSLP", "<p>Please verify\nyou are human.</p>")),
]


@pytest.mark.parametrize(("cause", "text"), VARIANTS)
def test_pages_are_recognised_on_their_visible_text(cause, text):
    step = classify(200, ENTRY, {}, text, entry_url=ENTRY)
    assert isinstance(step, Failure) and step.cause == cause


def test_a_phrase_only_in_a_script_or_comment_is_not_the_page():
    text = page(
        "IMSLP", "<script>var m='blocked pending copyright review'</script><!-- daily limit -->"
    )
    step = classify(200, ENTRY, {}, text, entry_url=ENTRY)
    assert isinstance(step, Failure) and step.cause == "not-pdf"


@pytest.mark.parametrize(
    ("span", "body", "default_s", "expected_s"),
    [
        ("15", "", 15.0, 15.0),
        (" 8 ", "", 15.0, 8.0),
        ("<b>30</b>", "", 15.0, 30.0),
        ("", "Your download will begin in 20\nseconds.", 15.0, 20.0),
        ("", "Please wait.", 12.0, 12.0),
    ],
)
def test_wait_page_countdown_is_read_from_the_page(span, body, default_s, expected_s):
    text = page(
        "IMSLP - Download",
        f'<p>{body}</p><span class=\'x\' id="sm_dl_wait" data-id="{FILE}">{span}</span>',
    )
    step = classify(200, ENTRY, {}, text, entry_url=ENTRY, default_wait_s=default_s)
    assert step == Follow(FILE, wait_s=expected_s)
