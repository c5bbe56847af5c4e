"""The baseline of bench/ingest.py: a bare Flask app that only reads the body and answers 204
(POST) or a small JSON (GET), served by the same gunicorn settings as Sharebar."""
from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.post("/v1/events")
def events() -> Response:
    request.get_data()
    return Response(status=204)


@app.get("/v1/counts")
@app.get("/v1/config")
def small_json() -> Response:
    return jsonify(url=request.args.get("url"), total=0, services={})
