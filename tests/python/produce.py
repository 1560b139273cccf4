"""Produces messages to a Kafka topic with confluent-kafka, a client
independent of ratewire's: the streaming tests feed part of their input
through it.

    produce.py BROKERS TOPIC FILE

FILE holds one JSON object per line: {"key": "...", "payload_hex": "..."}
(hex, so that payloads need not be UTF-8). Prints the number delivered and
exits non-zero if any delivery failed.
"""

import json
import sys

from confluent_kafka import Producer


def main() -> int:
    brokers, topic, path = sys.argv[1:4]
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(str(err))

    count = 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            message = json.loads(line)
            payload = bytes.fromhex(message["payload_hex"])
            while True:
                try:
                    producer.produce(topic, key=message["key"], value=payload, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            count += 1
    left = producer.flush(60)
    if left or failures:
        print(f"{left} undelivered, failures: {failures[:5]}", file=sys.stderr)
        return 1
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
