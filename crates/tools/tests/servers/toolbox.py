"""A small MCP server written with the official Python SDK, for Chorus's tool
tests: a plain tool, one that crashes the server mid-call, one that hangs, one
that reports its environment, and one that adds a tool at run time (and tells
the client the list changed).

Usage: toolbox.py stdio | toolbox.py http PORT
"""

import os
import sys
import time

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("toolbox", instructions="Add numbers with add.")


@server.tool()
def add(a: int, b: int) -> str:
    """Adds two integers."""
    return f"{a} + {b} = {a + b}"


@server.tool()
def crash() -> str:
    """Stops the server in the middle of the call."""
    os._exit(3)


@server.tool()
def hang(seconds: float) -> str:
    """Takes `seconds` to answer."""
    time.sleep(seconds)
    return "done"


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable, or (unset)."""
    return os.environ.get(name, "(unset)")


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `shout` and tells the client the tool list changed."""

    def shout(text: str) -> str:
        """Upper-cases text."""
        return text.upper()

    server.add_tool(shout)
    await ctx.session.send_tool_list_changed()
    return "added shout"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        print("toolbox starting", file=sys.stderr)
        server.run()
