namespace IIC.AspNetCore.Tests;

/// <summary>Unique hypervisor names and private socket directories, so tests never meet each other's hypervisors.</summary>
internal static class TestNames
{
    public static string Hypervisor(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..24];

    /// <summary>A fresh 0700 directory for a hypervisor socket; the caller deletes it.</summary>
    public static string SocketDirectory() => Directory.CreateTempSubdirectory("iic-asp-").FullName;

    public static void DeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort: it is in the temporary directory
        }
    }
}
