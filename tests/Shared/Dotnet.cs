namespace IIC.Tests;

/// <summary>The dotnet executable that runs child processes (the test host, the iic CLI, the sample server).</summary>
public static class Dotnet
{
    /// <summary>
    /// Under `dotnet test` the test host runs in the dotnet executable: use the same one (and so the same runtime);
    /// else DOTNET_HOST_PATH, else "dotnet" from PATH.
    /// </summary>
    public static string HostPath()
    {
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }
        var fromCli = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(fromCli) && File.Exists(fromCli) ? fromCli : "dotnet";
    }
}
