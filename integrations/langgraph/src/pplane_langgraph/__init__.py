"""pplane_langgraph: LangGraph's checkpointer on pplane.

Map: ``saver`` (``PplaneSaver``, LangGraph's ``BaseCheckpointSaver`` over
``pplane serve``, blocking and asyncio, through ``pplane_client``),
``transport`` (its asyncio client's requests, sent with aiohttp).

    from pplane_langgraph import PplaneSaver
    graph = builder.compile(checkpointer=PplaneSaver(url=..., api_key=...))
"""

from .saver import PplaneSaver

__all__ = ["PplaneSaver"]
