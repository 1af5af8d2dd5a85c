"""The tests' Ollama-protocol server (tests/integration/fake_ollama.py) as a process of its own.

The browser tests' Home Assistant runs in another process (the demo), so the server can't share
the test's event loop. It answers every chat with STORY, streamed a word at a time, and prints its
port on stdout once it listens. `python -m tests.browser.ollama_stub`
"""

from __future__ import annotations

import asyncio
import signal
import sys

from tests.integration.fake_ollama import Chunk, FakeOllama, Reply

MODEL = "llama3.2:latest"
STORY = "Once upon a time a little lamp learned to speak, and it told the house good night."
WORD_DELAY_S = 0.12  # slow enough to see the reply grow in the browser
REPLIES = 20  # more than the tests send


def story_reply() -> Reply:
    """STORY, one word per streamed line."""
    words = STORY.split(" ")
    pieces = [word + " " for word in words[:-1]] + [words[-1]]
    return Reply(chunks=[Chunk(content=piece, delay=WORD_DELAY_S) for piece in pieces])


async def main() -> None:
    """Serve until SIGTERM."""
    server = FakeOllama(models=[MODEL])
    server.queue(*(story_reply() for _ in range(REPLIES)))
    await server.start()
    sys.stdout.write(f"{server.port}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
