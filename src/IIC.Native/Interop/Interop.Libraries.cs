using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

internal static partial class Interop
{
    /// <summary>Library names for <see cref="LibraryImportAttribute"/>.</summary>
    internal static class Libraries
    {
        /// <summary>The C library. Resolved to the versioned soname below, because on distributions
        /// that ship libc6-dev "libc.so" is a linker script that dlopen cannot load.</summary>
        internal const string Libc = "libc";

        private const string LibcSoname = "libc.so.6";

        [ModuleInitializer]
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "The resolver must be in place before the first P/Invoke of this assembly.")]
        internal static void RegisterResolver()
        {
            NativeLibrary.SetDllImportResolver(typeof(Libraries).Assembly, Resolve);
        }

        private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
        {
            if (name == Libc && OperatingSystem.IsLinux() && NativeLibrary.TryLoad(LibcSoname, out var handle))
            {
                return handle;
            }
            return IntPtr.Zero; // default probing
        }
    }
}
