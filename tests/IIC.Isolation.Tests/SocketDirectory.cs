namespace IIC.Isolation.Tests;

/// <summary>A fresh 0700 socket directory under /tmp (the one thing namespaced children share) and a unique hypervisor name.</summary>
public sealed class SocketDirectory : IDisposable
{
    private static int s_next;

    /// <summary>Creates the directory.</summary>
    public SocketDirectory()
    {
        Path = Directory.CreateTempSubdirectory("iic-ns-").FullName; // mode 0700, owned by us
        HypervisorName = $"ns{Environment.ProcessId}x{Interlocked.Increment(ref s_next)}";
    }

    /// <summary>The directory's path.</summary>
    public string Path { get; }

    /// <summary>A hypervisor name no other test uses.</summary>
    public string HypervisorName { get; }

    /// <summary>Starts a hypervisor in this (the test's) process with its socket here.</summary>
    public Hypervisor StartHypervisor(IReadOnlySet<uint>? allowedUids = null) =>
        Hypervisor.Start(HypervisorName, new HypervisorOptions { SocketDirectory = Path, AllowedUids = allowedUids ?? new HashSet<uint>() });

    /// <summary>Removes the directory.</summary>
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a child still holds it: /tmp is cleaned eventually
        }
    }
}
