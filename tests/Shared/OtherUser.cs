using System.Diagnostics;
using System.Globalization;
using IIC.Native;

namespace IIC.Tests;

/// <summary>
/// A second local user for the trust tests (another uid than the test's), created on first use when the tests run
/// as root, and the child test host run as it with runuser.
/// </summary>
public static class OtherUser
{
    /// <summary>The user's name.</summary>
    public const string Name = "iic-test-other";

    /// <summary>Its uid, creating the user if missing; null when we are not root or cannot create users.</summary>
    public static uint? Ensure()
    {
        if (Credentials.EffectiveUserId != 0)
        {
            return null;
        }
        var (code, output) = Programs.Run("id", ["-u", Name]);
        if (code != 0)
        {
            (code, _) = Programs.Run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", Name]);
            if (code != 0)
            {
                return null;
            }
            (code, output) = Programs.Run("id", ["-u", Name]);
        }
        return code == 0 ? uint.Parse(output.Trim(), CultureInfo.InvariantCulture) : null;
    }

    /// <summary>Runs a child test host scenario as this user to completion and returns its exit code and stdout.</summary>
    public static (int ExitCode, string Output) RunScenario(string scenario, params string[] args)
        => Programs.Run("runuser", ["-u", Name, "--", Dotnet.HostPath(), TestHostDll, scenario, .. args]);

    /// <summary>Starts a child test host scenario as this user, with its stdin and stdout redirected.</summary>
    public static Process StartScenario(string scenario, params string[] args)
    {
        var info = new ProcessStartInfo("runuser") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-u", Name, "--", Dotnet.HostPath(), TestHostDll, scenario }.Concat(args))
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["DOTNET_CLI_HOME"] = "/tmp";
        return Process.Start(info)!;
    }

    private static string TestHostDll => Path.Combine(AppContext.BaseDirectory, "IIC.TestHost.dll");
}
