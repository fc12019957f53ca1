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
                files.Add(file);
                mappings.Add(MappedMemory.Map(file, Size, populate: false));
            }
            // Every other mapping is kept: the released ones' runs must stop at each kept one.
            var released = mappings.Where((_, i) => i % 3 != 1).ToList();
            var kept = mappings.Where((_, i) => i % 3 == 1).ToList();
            var addresses = released.Select(Address).ToList();
            var keptAddresses = kept.Select(Address).ToList();
            Assert.All(addresses.Concat(keptAddresses), a => Assert.True(IsMapped(a), "a mapping is missing before the test"));

            var scratch = new List<(nint Address, nuint Length)>();
            var calls = MappedMemory.CollectUnmaps(() => released.ForEach(m => m.Dispose()), scratch);

            Assert.InRange(calls, 1, released.Count);
            Assert.All(addresses, a => Assert.False(IsMapped(a), $"0x{a:x} is still mapped after its release"));
            Assert.All(keptAddresses, a => Assert.True(IsMapped(a), $"0x{a:x}, still in use, was unmapped with its neighbours"));
            Assert.All(kept, m => m.GetSpan(0, 8).Fill(1)); // and usable
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
        var address = Address(memory);
        var lease = memory.Lease();

        var calls = MappedMemory.CollectUnmaps(memory.Dispose, []);

        Assert.Equal(0, calls);
        Assert.True(IsMapped(address), "a leased mapping was unmapped under its lease");
        lease.Dispose(); // the last reference, on this thread but outside the collector: unmapped at once
        Assert.False(IsMapped(address));
    }

    private static nint Address(MappedMemory memory) => memory.DangerousGetHandle();

    private static bool IsMapped(nint address)
    {
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var range = line.AsSpan(0, line.IndexOf(' ', StringComparison.Ordinal));
            var dash = range.IndexOf('-');
            var start = long.Parse(range[..dash], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var end = long.Parse(range[(dash + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (address >= start && address < end)
            {
                return true;
            }
        }
        return false;
    }
}
