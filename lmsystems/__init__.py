"""LMSystems SDK for hosted LangGraph graphs."""
