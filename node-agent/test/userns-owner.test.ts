import { describe, expect, it } from "vitest";
import { hostIdOffset, parseOwner } from "../src/safe-fs";

describe("owners of files handed to an agent under user-namespace remapping", () => {
  it("maps the container's uid and gid into the remapped host range", () => {
    expect(parseOwner("1000:1000", 100000)).toEqual({ uid: 101000, gid: 101000 });
    expect(parseOwner("1000", 0)).toEqual({ uid: 1000, gid: 1000 }); // no remapping: the same ids
  });

  it("reads the offset from the node's env and refuses nonsense", () => {
    expect(hostIdOffset({ USERNS_UID_OFFSET: "231072" })).toBe(231072);
    expect(hostIdOffset({})).toBe(0);
    expect(() => hostIdOffset({ USERNS_UID_OFFSET: "-5" })).toThrow(/non-negative/);
  });
});
