namespace IIC.Native.Tests;

/// <summary>What /proc says about this process: open descriptors and mappings of memfds, found by their unique names
/// (so tests running in parallel do not disturb each other's counts).</summary>
internal static class ProcFs
{
    /// <summary>A memfd name no other test uses.</summary>
    public static string UniqueName(string purpose) => $"iic-test-{purpose}-{Guid.NewGuid():N}";

    /// <summary>How many of this process's descriptors refer to the memfd named <paramref name="name"/>.</summary>
    public static int OpenDescriptorsOf(string name)
    {
        var target = $"/memfd:{name} (deleted)";
        var count = 0;
        foreach (var link in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(link).LinkTarget == target)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // closed while we looked
            }
        }
        return count;
    }

    /// <summary>How many of this process's mappings are of the memfd named <paramref name="name"/>.</summary>
    public static int MappingsOf(string name)
    {
        var target = $"/memfd:{name} (deleted)";
        return File.ReadAllLines("/proc/self/maps").Count(line => line.EndsWith(target, StringComparison.Ordinal));
    }
}
