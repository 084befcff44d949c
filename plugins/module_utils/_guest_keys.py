# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names the console actions of domain_guest accept -> libvirt's numbers: keys, keycode sets, signals.

Key names are Linux's (KEY_A, KEY_LEFTALT, KEY_SYSRQ...: linux/input-event-codes.h), as in
`virsh send-key`; they are codes of the `linux` keycode set only. A number is a code of the chosen
set as it is, so the other sets (xt, usb, win32...) take numbers.
"""

from __future__ import annotations

from typing import Union

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

# virsh's names of libvirt's keycode sets -> their virKeycodeSet constants.
KEYCODE_SETS: dict[str, str] = {
    "linux": "VIR_KEYCODE_SET_LINUX",
    "xt": "VIR_KEYCODE_SET_XT",
    "atset1": "VIR_KEYCODE_SET_ATSET1",
    "atset2": "VIR_KEYCODE_SET_ATSET2",
    "atset3": "VIR_KEYCODE_SET_ATSET3",
    "os_x": "VIR_KEYCODE_SET_OSX",
    "xt_kbd": "VIR_KEYCODE_SET_XT_KBD",
    "usb": "VIR_KEYCODE_SET_USB",
    "win32": "VIR_KEYCODE_SET_WIN32",
    "qnum": "VIR_KEYCODE_SET_QNUM",
}
MAX_KEYS = 16  # VIR_DOMAIN_SEND_KEY_MAX_KEYS: keys pressed together in one call

# The Linux key names of codes 0-127 (the keyboard proper), by code; "-" where Linux defines none.
_LINUX_KEYS = """
RESERVED ESC 1 2 3 4 5 6 7 8 9 0 MINUS EQUAL BACKSPACE TAB Q W E R T Y U I O P LEFTBRACE RIGHTBRACE ENTER
LEFTCTRL A S D F G H J K L SEMICOLON APOSTROPHE GRAVE LEFTSHIFT BACKSLASH Z X C V B N M COMMA DOT SLASH
RIGHTSHIFT KPASTERISK LEFTALT SPACE CAPSLOCK F1 F2 F3 F4 F5 F6 F7 F8 F9 F10 NUMLOCK SCROLLLOCK KP7 KP8 KP9
KPMINUS KP4 KP5 KP6 KPPLUS KP1 KP2 KP3 KP0 KPDOT - ZENKAKUHANKAKU 102ND F11 F12 RO KATAKANA HIRAGANA HENKAN
KATAKANAHIRAGANA MUHENKAN KPJPCOMMA KPENTER RIGHTCTRL KPSLASH SYSRQ RIGHTALT LINEFEED HOME UP PAGEUP LEFT
RIGHT END DOWN PAGEDOWN INSERT DELETE MACRO MUTE VOLUMEDOWN VOLUMEUP POWER KPEQUAL KPPLUSMINUS PAUSE SCALE
KPCOMMA HANGEUL HANJA YEN LEFTMETA RIGHTMETA COMPOSE
""".split()
LINUX_KEY_CODES: dict[str, int] = {f"KEY_{name}": code for code, name in enumerate(_LINUX_KEYS) if name != "-"}

# virDomainProcessSignal: libvirt numbers the signals as Linux on x86 does, then SIGRTMIN+0..32 from 32.
_SIGNALS = ("NOP HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP "
            "TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH POLL PWR SYS").split() + [f"RT{n}" for n in range(33)]
SIGNAL_NUMBERS: dict[str, int] = {name: number for number, name in enumerate(_SIGNALS)}


def key_code(key: Union[str, int], keycode_set: str) -> int:
    """A key as its code in `keycode_set`: a number as it is, a Linux key name (linux set only)."""
    text = str(key).strip()
    if text.isdigit():
        return int(text)
    if keycode_set != "linux":
        raise InvalidArgument(f"send_keys: key {text!r} is a name, and names are Linux key names: with "
                              f"keycode_set={keycode_set} give the keys as numbers of that set")
    name = text.upper() if text.upper().startswith("KEY_") else f"KEY_{text.upper()}"
    if name not in LINUX_KEY_CODES:
        raise InvalidArgument(f"send_keys: unknown key {text!r}: give a Linux key name such as KEY_A, KEY_ENTER, "
                              "KEY_LEFTCTRL, KEY_F1 (KEY_1 for the digit keys) or a key code")
    return LINUX_KEY_CODES[name]


def signal_number(signal: str) -> int:
    """A signal name (SIGTERM, TERM, term, SIGRT3) as libvirt's virDomainProcessSignal number."""
    name = str(signal).strip().upper()
    name = name[3:] if name.startswith("SIG") else name
    if name not in SIGNAL_NUMBERS:
        raise InvalidArgument(f"signal: unknown signal {signal!r}: expected one of "
                              f"{', '.join('SIG' + known for known in SIGNAL_NUMBERS)}")
    return SIGNAL_NUMBERS[name]
