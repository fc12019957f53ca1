using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace IIC.Hardware;

/// <summary>
/// The naming rules, written once: partition and service names (carried in control messages) and hypervisor names
/// (a file name in the socket directory). The hypervisor, partitions, the CLI and the ASP.NET Core options validator
/// all check names here and quote the same rule in their errors.
/// </summary>
internal static class NameRules
{
    /// <summary>The longest name of any kind, in characters (all ASCII, so also in UTF-8 bytes).</summary>
    public const int MaxLength = 128;

    /// <summary>The rule for a partition or service name, as a fix to quote in errors ("use ...").</summary>
    public static readonly string NameRule = string.Create(CultureInfo.InvariantCulture,
        $"use 1 to {MaxLength} ASCII letters, digits, '.', '_', '-' or '/'");

    /// <summary>The rule for a hypervisor name, as a fix to quote in errors ("use ...").</summary>
    public static readonly string HypervisorNameRule = string.Create(CultureInfo.InvariantCulture,
        $"use 1 to {MaxLength} ASCII letters, digits, '.', '_' or '-' (no '/'), other than \".\" and \"..\"");

    private const string HypervisorNameChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    private static readonly SearchValues<char> s_hypervisorNameChars = SearchValues.Create(HypervisorNameChars);
    private static readonly SearchValues<char> s_nameChars = SearchValues.Create(HypervisorNameChars + "/");

    /// <summary>Whether <paramref name="name"/> is a valid partition or service name (checked on every connect: allocates nothing).</summary>
    public static bool IsName(string name) =>
        name.Length is > 0 and <= MaxLength && !name.AsSpan().ContainsAnyExcept(s_nameChars);

    /// <summary>Whether <paramref name="name"/> is a valid hypervisor name ('/' would make it a path).</summary>
    public static bool IsHypervisorName(string name) =>
        name.Length is > 0 and <= MaxLength && name is not "." and not ".." && !name.AsSpan().ContainsAnyExcept(s_hypervisorNameChars);

    /// <summary>Throws unless <paramref name="name"/> is a valid partition or service name.</summary>
    /// <exception cref="ArgumentNullException">The name is null.</exception>
    /// <exception cref="ArgumentException">The name breaks the rule (the message quotes it).</exception>
    public static void ThrowIfNotName(string name, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(name, parameterName);
        if (!IsName(name))
        {
            ThrowInvalid($"'{name}' is not a valid name: {NameRule}.", parameterName);
        }
    }

    /// <summary>Throws unless <paramref name="name"/> is a valid hypervisor name.</summary>
    /// <exception cref="ArgumentNullException">The name is null.</exception>
    /// <exception cref="ArgumentException">The name breaks the rule (the message quotes it).</exception>
    public static void ThrowIfNotHypervisorName(string name, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(name, parameterName);
        if (!IsHypervisorName(name))
        {
            ThrowInvalid($"'{name}' is not a valid name for a hypervisor: {HypervisorNameRule}.", parameterName);
        }
    }

    [DoesNotReturn]
    private static void ThrowInvalid(string message, string parameterName) => throw new ArgumentException(message, parameterName);
}
