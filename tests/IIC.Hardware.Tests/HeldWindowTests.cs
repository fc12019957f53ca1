using System.Globalization;
using IIC.Native;

namespace IIC.Hardware.Tests;

/// <summary>
/// Round 14: the hypervisor holds a granted window by its memfd alone (HeldWindow): the header is pwritten, the first
/// pages committed with pwrite, and the window is mapped only to mark a side dead. These tests open the file the way a
/// partition does (SharedWindow.Open) and check that it sees exactly what a mapped creator would have written, that
/// the commit leaves the pages present, and that marking a side dead still marks and wakes, even over a header a
/// partition scribbled on, and leaves no mapping behind.
/// </summary>
public sealed class HeldWindowTests
{
    public static TheoryData<int?, int?> Shapes => new() { { null, null }, { 5, null }, { null, 4095 }, { 7, 130 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void A_held_windows_header_is_byte_for_byte_what_a_mapped_creator_writes(int? groupVector0, int? groupVector1)
    {
        var options = new WindowOptions { RingCapacity0 = 1 << 16, RingCapacity1 = 1 << 12, GroupVector0 = groupVector0, GroupVector1 = groupVector1 };
        using var mapped = SharedWindow.Create(options);
        using var held = HeldWindow.Create(options);
        Assert.Equal(mapped.Size, held.Size);
        using var opened = OpenAsPartition(held);

        var extent = SharedWindow.HeaderExtent(SharedWindow.PlanFor(options));
        Assert.Equal(mapped.Memory.GetSpan(0, extent).ToArray(), opened.Memory.GetSpan(0, extent).ToArray());
        Assert.Equal(SharedWindow.RequiredSeals, MemoryFile.GetSeals(held.File) & SharedWindow.RequiredSeals);
        Assert.Equal(SideState.Empty, opened.ReadSide(0).State);
        Assert.Equal(SideState.Empty, opened.ReadSide(1).State);
        Assert.Equal(groupVector0 is not null, opened.IsGrouped(0));
        Assert.Equal(groupVector1 ?? 0, opened.GetVector(1));
        Assert.Equal(1 << 12, opened.GetRing(1).Capacity);
    }

    [Fact]
    public void A_prepared_file_holds_the_default_header_and_its_first_pages_present_and_a_default_grant_writes_nothing()
    {
        var options = WindowOptions.WithCapacity(WindowOptions.DefaultRingCapacity);
        var plan = SharedWindow.PlanFor(options);
        using var mapped = SharedWindow.Create(options);
        var file = SealedMemory.CreateUnmapped("iic-held-test", plan.Total);
        Assert.Empty(MemoryFile.DataExtents(file)); // a fresh memfd has no page behind it

        HeldWindow.Prepare(file, options);

        // Present and up to date in the page cache (pwrite, not fallocate: a fallocated shmem page is not up to date,
        // reads as a hole here and is zeroed only at its first fault): the header page with ring 0's first page, and ring 1's.
        var expected = new[] { (0L, plan.Ring0 + 4096), (plan.Ring1, plan.Ring1 + 4096) };
        Assert.Equal(expected, MemoryFile.DataExtents(file));
        var defaultGrant = options with { };
        using var held = HeldWindow.Adopt(defaultGrant, file, options);
        Assert.Equal(expected, MemoryFile.DataExtents(held.File));
        using var opened = OpenAsPartition(held);
        var extent = SharedWindow.HeaderExtent(plan);
        Assert.Equal(mapped.Memory.GetSpan(0, extent).ToArray(), opened.Memory.GetSpan(0, extent).ToArray());
    }

    [Fact]
    public void A_grouped_grant_of_a_prepared_file_rewrites_its_header_for_its_shape()
    {
        var prepared = WindowOptions.WithCapacity(WindowOptions.DefaultRingCapacity);
        var grouped = prepared with { GroupVector1 = 33 };
        using var mapped = SharedWindow.Create(grouped);
        var file = SealedMemory.CreateUnmapped("iic-held-test", SharedWindow.PlanFor(prepared).Total);
        HeldWindow.Prepare(file, prepared);

        using var held = HeldWindow.Adopt(grouped, file, prepared);

        using var opened = OpenAsPartition(held);
        var extent = SharedWindow.HeaderExtent(SharedWindow.PlanFor(grouped));
        Assert.Equal(mapped.Memory.GetSpan(0, extent).ToArray(), opened.Memory.GetSpan(0, extent).ToArray());
        Assert.True(opened.IsGrouped(1));
        Assert.Equal(33, opened.GetVector(1));
    }

    [Fact]
    public void Marking_a_side_dead_marks_it_with_a_new_epoch_wakes_the_other_side_and_leaves_no_mapping()
    {
        using var held = HeldWindow.Create(WindowOptions.WithCapacity(4096), "iic-held-dead");
        using var opened = OpenAsPartition(held);
        opened.MarkAttached(0, Environment.ProcessId);
        var page = opened.GetInterruptPage(0);
        var sequence = page.ReadSequence();
        var mapsBefore = HeldWindow.HeaderMaps;
        Assert.Equal(1, MappingsOf(held.File)); // the partition's own; the hypervisor's side holds none

        held.MarkDead(1);

        var side = opened.ReadSide(1);
        Assert.Equal(SideState.Dead, side.State);
        Assert.Equal(1, side.Epoch);
        Assert.NotEqual(sequence, page.ReadSequence()); // woken: a sleeper on the block returns
        Assert.True(page.HasPending); // and the vector is raised, as SharedWindow.MarkDead raises it
        Assert.Equal(SideState.Attached, opened.ReadSide(0).State);
        Assert.Equal(mapsBefore + 1, HeldWindow.HeaderMaps);
        Assert.Equal(1, MappingsOf(held.File)); // the header's mapping was undone at once

        opened.MarkClosed(0);
        held.MarkDead(0);
        Assert.Equal(SideState.Closed, opened.ReadSide(0).State); // a side that closed cleanly stays closed
    }

    [Fact]
    public void Marking_a_grouped_side_dead_raises_the_peers_group_vector_and_wakes_its_own_block()
    {
        using var group = InterruptGroup.Create();
        using var held = HeldWindow.Create(new WindowOptions { RingCapacity0 = 4096, RingCapacity1 = 4096, GroupVector0 = 9 });
        held.AttachGroup(0, group);
        using var opened = OpenAsPartition(held);
        var own = opened.GetOwnInterruptPage(0);
        var ownSequence = own.ReadSequence();
        var groupSequence = group.Page.ReadSequence();

        held.MarkDead(1);

        Assert.Equal(SideState.Dead, opened.ReadSide(1).State);
        Span<long> pending = stackalloc long[group.Page.VectorCount / 64];
        group.Page.TakePending(pending);
        Assert.Equal(1L << 9, pending[0]);
        Assert.NotEqual(groupSequence, group.Page.ReadSequence());
        Assert.NotEqual(ownSequence, own.ReadSequence()); // a grouped side waiting alone sleeps on its own block
    }

    [Fact]
    public void A_header_scribbled_over_by_a_partition_does_not_stop_the_mark_nor_move_where_it_lands()
    {
        using var held = HeldWindow.Create(WindowOptions.WithCapacity(4096));
        using (var opened = OpenAsPartition(held))
        {
            // A hostile partition overwrites the whole header page after the grant: magic, tables, side blocks, both
            // interrupt blocks' headers (vector counts included).
            opened.Memory.GetSpan(0, 4096).Fill(0xA5);
        }

        held.MarkDead(0);

        // The side block is where the hypervisor put it, whatever the tables now say: read it raw.
        using var memory = MappedMemory.Map(held.File, 4096, populate: false);
        Assert.Equal((int)SideState.Dead, memory.ReadAcquireInt32(WindowLayout.SideBlock(0)));
        Assert.Equal(unchecked((int)0xA5A5A5A5) + 1, memory.ReadAcquireInt32(WindowLayout.SideBlock(0) + WindowLayout.SideEpochOffset));
    }

    [Fact]
    public void A_retired_window_is_closed_and_refuses_to_be_marked()
    {
        var held = HeldWindow.Create(WindowOptions.WithCapacity(4096));
        held.Dispose();
        Assert.True(held.File.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => held.MarkDead(0));
        held.Dispose(); // twice: nothing
    }

    /// <summary>Opens the held file through a second open file description, as a partition receiving it would.</summary>
    private static SharedWindow OpenAsPartition(HeldWindow held)
    {
        var path = "/proc/self/fd/" + held.File.Value.ToString(CultureInfo.InvariantCulture);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        var fd = new FileDescriptor((int)handle.DangerousGetHandle());
        handle.SetHandleAsInvalid(); // the FileDescriptor owns it now
        return SharedWindow.Open(fd);
    }

    /// <summary>This process's mappings of <paramref name="file"/>'s inode (from /proc/self/maps).</summary>
    private static int MappingsOf(FileDescriptor file)
    {
        var inode = File.ReadAllLines("/proc/self/fdinfo/" + file.Value.ToString(CultureInfo.InvariantCulture))
            .Single(l => l.StartsWith("ino:", StringComparison.Ordinal))["ino:".Length..].Trim();
        return File.ReadAllLines("/proc/self/maps").Count(line =>
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            return fields.Length >= 5 && fields[4] == inode && line.Contains("memfd:", StringComparison.Ordinal);
        });
    }
}
