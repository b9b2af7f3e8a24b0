"""docs/api_reference.md: generated from the protos' comments, and never out of date.

scripts/gen_api_reference.py parses proto/paramsync/v1/*.proto; the committed
reference must be what it generates now (after a proto change, run
`python3 scripts/gen_api_reference.py`).
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

import _cluster  # Puts the package's directory on sys.path.

_SCRIPT = os.path.join(_cluster.REPO_ROOT, "scripts", "gen_api_reference.py")
_spec = importlib.util.spec_from_file_location("gen_api_reference", _SCRIPT)
gen = importlib.util.module_from_spec(_spec)
sys.modules["gen_api_reference"] = gen  # Its dataclasses look their module up.
_spec.loader.exec_module(gen)

_PROTO = """// A test file.
// Second line.
syntax = "proto3";

package paramsync.v1;

import "paramsync/v1/types.proto";

// The service.
service Things {
  // Gets one.
  rpc Get(GetRequest) returns (stream Thing);
  rpc Put(stream Thing) returns (GetRequest);  // Puts them.
}

// Detached: not about Thing.

// A thing:
// - red, or
//   blue;
// - never *green*.
message Thing {
  string name = 1;        // Its name.
  // Its parts.
  repeated Part parts = 2;
  optional int32 size = 3;
  map<string, bytes> extra = 4;
  reserved 5;
}
message GetRequest { string name = 1; }  // Which one.

enum Part {
  PART_UNSPECIFIED = 0;
  PART_WHEEL = 1;  // Round.
}
"""


class GeneratorTest(unittest.TestCase):
    def parse(self, text):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "things.proto")
            with open(path, "w") as f:
                f.write(text)
            return gen.parse(path, "things.proto")

    def test_comments_attach_to_what_follows_or_precedes_them(self):
        parsed = self.parse(_PROTO)
        self.assertEqual(parsed.description, "A test file. Second line.")
        service, thing, request, part = parsed.blocks
        self.assertEqual((service.kind, service.comment), ("service", "The service."))
        get, put = service.members
        self.assertEqual((get.type, get.response, get.response_stream, get.comment),
                         ("GetRequest", "Thing", True, "Gets one."))
        self.assertEqual((put.label, put.comment), ("stream", "Puts them."))
        self.assertEqual(thing.comment, "A thing:\n- red, or blue;\n- never *green*.")
        self.assertEqual([(m.name, m.label, m.type, m.number, m.comment) for m in thing.members],
                         [("name", "", "string", "1", "Its name."),
                          ("parts", "repeated", "Part", "2", "Its parts."),
                          ("size", "optional", "int32", "3", ""),
                          ("extra", "", "map<string,bytes>", "4", "")])
        self.assertEqual(thing.reserved, ["5"])
        self.assertEqual((request.comment, [m.name for m in request.members]),
                         ("Which one.", ["name"]))
        self.assertEqual([(m.name, m.number, m.comment) for m in part.members],
                         [("PART_UNSPECIFIED", "0", ""), ("PART_WHEEL", "1", "Round.")])

    def test_rendering_links_our_types_and_escapes_markdown(self):
        text = gen.render([self.parse(_PROTO)])
        self.assertIn("| `Get` | [`GetRequest`](#getrequest) | stream [`Thing`](#thing) | "
                      "Gets one. |", text)
        self.assertIn("| `parts` | repeated [`Part`](#part) | 2 | Its parts. |", text)
        self.assertIn("- never \\*green\\*.", text)
        self.assertIn("Reserved: 5.", text)
        self.assertNotIn("Detached", text)

    def test_unknown_constructs_fail_naming_the_line(self):
        with self.assertRaisesRegex(gen.ProtoError, r"things.proto:3: not a field"):
            self.parse('syntax = "proto3";\nmessage A {\n  oneof x { int32 a = 1; }\n}\n')
        with self.assertRaisesRegex(gen.ProtoError, "not closed"):
            self.parse('syntax = "proto3";\nenum A {\n  A_X = 0;\n')


class CommittedReferenceTest(unittest.TestCase):
    def test_docs_api_reference_is_up_to_date(self):
        result = subprocess.run([sys.executable, _SCRIPT, "--check"], capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_it_documents_every_service_of_the_protos(self):
        with open(gen.OUTPUT) as f:
            text = f.read()
        for service in ("Coordinator", "AgentControl", "AgentLocal", "AgentData"):
            self.assertIn("### %s\n" % service, text)
        self.assertIn("`SyncWithProgress`", text)


if __name__ == "__main__":
    unittest.main()
