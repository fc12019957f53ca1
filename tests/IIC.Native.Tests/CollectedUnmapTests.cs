using System.Globalization;

namespace IIC.Native.Tests;

/// <summary>
/// Round 14: MappedMemory.CollectUnmaps unmaps the mappings released inside it in one munmap per run of adjacent
/// mappings (DeferredUnmap's batches). It must unmap exactly what was released there: every released range, nothing
/// next to it that is still in use, and not a mapping whose last reference is still held (that one is unmapped when
/// its lease goes, as before). Real memfd mappings, checked in /proc/self/maps.
/// </summary>
public sealed class CollectedUnmapTests
{
    private const long Size = 3 * 4096 + 100; // not a multiple of the page: the run's ends are page-rounded

    [Fact]
    public void Released_mappings_are_all_unmapped_in_at_most_one_call_each_and_their_neighbours_stay_mapped()
    {
        var files = new List<FileDescriptor>();
        var mappings = new List<MappedMemory>();
        try
        {
            for (var i = 0; i < 12; i++)
            {
                var file = MemoryFile.Create("iic-collect-test");
                MemoryFile.SetSize(file, Size);
                files.Add(file); // kept open: each mapping is told apart by its file's inode (other tests may map meanwhile)
                mappings.Add(MappedMemory.Map(file, Size, populate: false));
            }
            // Every third mapping is kept: the released ones' runs must stop at each kept one.
            var released = Enumerable.Range(0, 12).Where(i => i % 3 != 1).ToList();
            var kept = Enumerable.Range(0, 12).Where(i => i % 3 == 1).ToList();
            Assert.All(Enumerable.Range(0, 12), i => Assert.Equal(1, MappingsOf(files[i])));

            var scratch = new List<(nint Address, nuint Length)>();
            var calls = MappedMemory.CollectUnmaps(() => released.ForEach(i => mappings[i].Dispose()), scratch);

            Assert.InRange(calls, 1, released.Count);
            Assert.All(released, i => Assert.True(MappingsOf(files[i]) == 0, $"mapping {i} is still mapped after its release"));
            Assert.All(kept, i => Assert.True(MappingsOf(files[i]) == 1, $"mapping {i}, still in use, was unmapped with its neighbours"));
            Assert.All(kept, i => mappings[i].GetSpan(0, 8).Fill(1)); // and usable
            Assert.Empty(scratch);
        }
        finally
        {
            mappings.ForEach(m => m.Dispose());
            files.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public void A_mapping_whose_lease_is_still_held_is_unmapped_when_the_lease_goes_not_by_the_collector()
    {
        using var file = MemoryFile.Create("iic-collect-test");
        MemoryFile.SetSize(file, Size);
        var memory = MappedMemory.Map(file, Size, populate: false);
        var lease = memory.Lease();

        var calls = MappedMemory.CollectUnmaps(memory.Dispose, []);

        Assert.Equal(0, calls);
        Assert.True(MappingsOf(file) == 1, "a leased mapping was unmapped under its lease");
        lease.Dispose(); // the last reference, on this thread but outside the collector: unmapped at once
        Assert.Equal(0, MappingsOf(file));
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
