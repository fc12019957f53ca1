using IIC.Tests;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// samples/Greeter.Server as a real second process (<c>dotnet Greeter.Server.dll --Key=Value ...</c>, built next to the
/// tests).
/// </summary>
internal static class GreeterServerProcess
{
    public static ServerProcess Start(params string[] configuration)
        => ServerProcess.Start("Greeter.Server.dll", "greeter server", configuration);
}
