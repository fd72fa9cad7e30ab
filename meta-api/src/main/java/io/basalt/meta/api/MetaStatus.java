package io.basalt.meta.api;

import java.util.ArrayList;
import java.util.List;

/**
 * What {@code meta status} shows: the group as its leader sees it, and the cluster id chunk
 * servers are bound to ("" while none is set).
 */
public record MetaStatus(String groupId, String leaderId, long term, long lastAppliedIndex,
                         long commitIndex, List<Member> members, String clusterId) {

    /** A member and the commit index the leader last heard from it. */
    public record Member(String id, String address, boolean leader, long commitIndex) {}

    public void encode(WireWriter out) {
        out.string(groupId).string(leaderId).i64(term).i64(lastAppliedIndex).i64(commitIndex)
                .i32(members.size());
        for (Member member : members) {
            out.string(member.id()).string(member.address()).bool(member.leader())
                    .i64(member.commitIndex());
        }
        out.string(clusterId);
    }

    public static MetaStatus decode(WireReader in) {
        String groupId = in.string();
        String leaderId = in.string();
        long term = in.i64();
        long lastApplied = in.i64();
        long commit = in.i64();
        int count = in.count(2 + 2 + 1 + 8);
        List<Member> members = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            members.add(new Member(in.string(), in.string(), in.bool(), in.i64()));
        }
        return new MetaStatus(groupId, leaderId, term, lastApplied, commit, members, in.string());
    }
}
