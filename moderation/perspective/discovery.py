"""The discovery document for `commentanalyzer` v1alpha1, pointing at this service.

Google's client libraries build their Perspective client from this document: with
`rootUrl` set to this service, `discovery.build("commentanalyzer", "v1alpha1", ...,
discoveryServiceUrl=BASE + "/$discovery/rest?version=v1alpha1")` talks to it unchanged.
It describes the two methods and the parts of their messages this service reads and
writes; no OAuth scopes, since an API key is all it takes.
"""

from __future__ import annotations

from typing import Any

from moderation.perspective.api import ATTRIBUTES, SUGGESTED

NAME = "commentanalyzer"
VERSION = "v1alpha1"


def _object(description: str, **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "description": description, "properties": properties}


def _ref(schema: str, description: str = "") -> dict[str, Any]:
    return {"$ref": schema, "description": description}


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _map(schema: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {"$ref": schema},
    }


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": {"type": "string"}}


_ATTRIBUTE_NAMES = ", ".join(ATTRIBUTES)

SCHEMAS: dict[str, dict[str, Any]] = {
    "TextEntry": _object(
        "A body of text.",
        text=_string("UTF-8 encoded text."),
        type=_string(
            "Type of the text field.", enum=["TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT", "HTML"]
        ),
    ),
    "AttributeParameters": _object(
        "How to score one attribute.",
        scoreType=_string("Only PROBABILITY is given.", enum=["PROBABILITY"]),
        scoreThreshold={
            "type": "number",
            "format": "float",
            "description": "Leave the attribute out of the answer when it scores below this.",
        },
    ),
    "AnalyzeCommentRequest": _object(
        "The comment analysis request message.",
        comment=_ref("TextEntry", "The comment to analyze."),
        requestedAttributes=_map(
            "AttributeParameters", f"Attributes to score, by name: {_ATTRIBUTE_NAMES}."
        ),
        languages=_strings("ISO 639-1 codes of the comment's language; detected if absent."),
        doNotStore={
            "type": "boolean",
            "description": "Store nothing of the comment: no text, no scoring record.",
        },
        clientToken=_string("Echoed in the response."),
        spanAnnotations={"type": "boolean", "description": "Span scores are always given."},
        communityId=_string("Accepted and not used."),
        sessionId=_string("Accepted and not used."),
    ),
    "Score": _object(
        "An attribute's score.",
        value={"type": "number", "format": "float", "description": "The score, 0 to 1."},
        type=_string("The score's type.", enum=["PROBABILITY"]),
    ),
    "SpanScore": _object(
        "The score of a span of the text.",
        begin={"type": "integer", "format": "int32", "description": "Its first character."},
        end={"type": "integer", "format": "int32", "description": "Just past its last."},
        score=_ref("Score"),
    ),
    "AttributeScores": _object(
        "The scores of one attribute.",
        summaryScore=_ref("Score", "The whole comment's score."),
        spanScores={"type": "array", "items": {"$ref": "SpanScore"}},
    ),
    "AnalyzeCommentResponse": _object(
        "The comment analysis response message.",
        attributeScores=_map("AttributeScores", "Scores by attribute name."),
        languages=_strings("The language the comment was scored as."),
        detectedLanguages=_strings("The language detected in the comment."),
        clientToken=_string("The request's clientToken."),
    ),
    "SuggestCommentScoreRequest": _object(
        "Scores a client suggests for a comment, kept as training data.",
        comment=_ref("TextEntry", "The comment being scored."),
        attributeScores=_map(
            "AttributeScores", f"The suggested summaryScore by attribute: {', '.join(SUGGESTED)}."
        ),
        languages=_strings("ISO 639-1 codes of the comment's language."),
        clientToken=_string("Echoed in the response."),
        communityId=_string("The client's community, kept with the labels."),
        sessionId=_string("Accepted and not used."),
    ),
    "SuggestCommentScoreResponse": _object(
        "The answer to a score suggestion.",
        clientToken=_string("The request's clientToken."),
        requestedLanguages=_strings("The languages the request named."),
    ),
}


def _method(name: str, request: str, response: str, description: str) -> dict[str, Any]:
    return {
        "id": f"{NAME}.comments.{name}",
        "path": f"{VERSION}/comments:{name}",
        "flatPath": f"{VERSION}/comments:{name}",
        "httpMethod": "POST",
        "description": description,
        "parameters": {},
        "parameterOrder": [],
        "request": {"$ref": request},
        "response": {"$ref": response},
    }


def document(root_url: str) -> dict[str, Any]:
    """The discovery document for a service reached at `root_url` (ending in "/")."""
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"{NAME}:{VERSION}",
        "name": NAME,
        "version": VERSION,
        "title": "Perspective Comment Analyzer API (self-hosted drop-in)",
        "description": "Scores comments for toxicity and spam, as Perspective's API does.",
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "",
        "baseUrl": root_url,
        "parameters": {
            "key": {
                "type": "string",
                "location": "query",
                "description": "API key (`moderation apikey create`).",
            },
            "alt": {
                "type": "string",
                "location": "query",
                "default": "json",
                "enum": ["json"],
                "enumDescriptions": ["Responses with Content-Type of application/json"],
                "description": "Data format for response.",
            },
            "fields": {
                "type": "string",
                "location": "query",
                "description": "Accepted and not used.",
            },
            "prettyPrint": {
                "type": "boolean",
                "location": "query",
                "default": "true",
                "description": "Accepted and not used.",
            },
            "quotaUser": {
                "type": "string",
                "location": "query",
                "description": "Accepted and not used.",
            },
        },
        "schemas": {name: {"id": name, **schema} for name, schema in SCHEMAS.items()},
        "resources": {
            "comments": {
                "methods": {
                    "analyze": _method(
                        "analyze",
                        "AnalyzeCommentRequest",
                        "AnalyzeCommentResponse",
                        "Analyzes the provided text and returns scores for requested attributes.",
                    ),
                    "suggestscore": _method(
                        "suggestscore",
                        "SuggestCommentScoreRequest",
                        "SuggestCommentScoreResponse",
                        "Suggest comment scores as training data.",
                    ),
                }
            }
        },
    }
